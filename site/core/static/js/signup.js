/* Signup box, progressive enhancement: submit in place with fetch.
 *
 * Without this script the form posts normally and the server answers with a full page.
 * With it, the same POST is sent with fetch and the answer's result (or the box with its
 * errors) replaces the box. It also records the page URL (with its UTM query) and
 * document.referrer, which a cached page cannot know. Nothing here auto-submits anything.
 */
(function () {
  "use strict";
  if (window.chapterhouseSignup) {
    return; // the box can appear more than once on a page; bind once
  }
  window.chapterhouseSignup = true;

  function fill(form) {
    var page = form.querySelector('input[name="page"]');
    var referrer = form.querySelector('input[name="referrer"]');
    if (page && !page.value) {
      page.value = window.location.href;
    }
    if (referrer && !referrer.value) {
      referrer.value = document.referrer || "";
    }
  }

  function replaceBox(box, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var result = doc.querySelector("[data-signup-result]");
    var newBox = doc.querySelector("[data-signup-box]");
    var target;
    if (result) {
      target = document.createElement("div");
      target.className = box.className;
      target.setAttribute("role", "status");
      var heading = doc.querySelector("h1");
      if (heading) {
        var title = document.createElement("h2");
        title.textContent = heading.textContent;
        target.appendChild(title);
      }
      result.removeAttribute("tabindex");
      target.appendChild(document.importNode(result, true));
    } else if (newBox) {
      target = document.importNode(newBox, true);
      target.id = box.id;
    } else {
      var error = doc.querySelector(".error-page");
      target = document.createElement("div");
      target.className = box.className;
      target.setAttribute("role", "alert");
      var message = document.createElement("p");
      message.className = "form-error";
      message.textContent = error
        ? (error.querySelector("h1") || error).textContent + ". " +
          ((error.querySelector(".lede") || {}).textContent || "")
        : "Something went wrong. Please try again in a moment.";
      target.appendChild(message);
    }
    target.setAttribute("tabindex", "-1");
    box.replaceWith(target);
    var invalid = target.querySelector('[aria-invalid="true"]');
    (invalid || target).focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-signup-form")) {
      return;
    }
    var box = form.closest("[data-signup-box]");
    if (!box || !window.fetch || !window.DOMParser) {
      fill(form);
      return; // plain POST
    }
    event.preventDefault();
    fill(form);
    var button = form.querySelector('button[type="submit"]');
    if (button) {
      button.disabled = true;
    }
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "omit",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        replaceBox(box, html);
      })
      .catch(function () {
        if (button) {
          button.disabled = false;
        }
        form.submit(); // network trouble: fall back to a normal POST
      });
  });
})();
