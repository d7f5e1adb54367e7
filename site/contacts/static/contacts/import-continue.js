/* Admin CSV import: post the next step of a long import by itself (the page also has a
 * "Continue" button, for browsers without JavaScript). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-auto-continue]");
  if (form) {
    form.submit();
  }
})();
