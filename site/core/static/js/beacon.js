/* Private page-view beacon (docs/decisions/0006-private-page-views.md).
 *
 * Sends the page's path, and nothing else, to the server once per page view. No cookie, no
 * storage, no identifier: the server adds one to a per-day counter for the page. It runs in
 * the browser, so it counts pages that came from a CDN or the page cache too. Pages opened
 * in a background tab (or prerendered) count when they are first shown.
 */
(function () {
  "use strict";
  if (!navigator.sendBeacon) {
    return;
  }
  var script = document.currentScript;
  var endpoint = (script && script.getAttribute("data-endpoint")) || "/s/pv/";
  var sent = false;

  function send() {
    if (sent || document.visibilityState !== "visible") {
      return;
    }
    sent = true;
    document.removeEventListener("visibilitychange", send);
    navigator.sendBeacon(endpoint, window.location.pathname);
  }

  if (document.visibilityState === "visible") {
    send();
  } else {
    document.addEventListener("visibilitychange", send);
  }
})();
