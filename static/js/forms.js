// After a form comes back with errors (a full page load or an HTMX swap), move the
// keyboard focus to them and say them in the assertive live region (#form-announcer in
// base.html), so a keyboard or screen reader user learns what went wrong without
// hunting for it. Order: an #error-summary, else the first field marked
// aria-invalid="true" (Django sets it, and points aria-describedby at the field's
// error), else the first error message itself.
(function () {
  "use strict";

  // data-standing marks a warning about the record itself, not about a form just sent.
  var ERRORS = "#error-summary, .errorlist, .error:not([data-standing]), [role='alert']:not([data-standing])";

  function visible(element) {
    return !!(element.offsetWidth || element.offsetHeight || element.getClientRects().length);
  }

  function firstVisible(root, selector) {
    var found = root.querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) {
      if (visible(found[i])) return found[i];
    }
    return null;
  }

  function focusable(element) {
    if (!element.matches("a[href], button, input, select, textarea, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
    }
    return element;
  }

  function announce(text) {
    var region = document.getElementById("form-announcer");
    if (!region) return;
    // Emptied first: a live region only speaks when its text changes.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  function errorsIn(root, moveFocus) {
    var summary = root.querySelector ? root.querySelector("#error-summary") : null;
    var invalid = firstVisible(root, "[aria-invalid='true']");
    var message = firstVisible(root, ERRORS);
    if (!summary && !invalid && !message) return false;
    var target = summary || invalid || message;
    // A closed <details> (an action's form on the path page) would hide the error.
    var details = target.closest("details");
    if (details && !details.open) details.open = true;
    var words = (message || summary || target).textContent.replace(/\s+/g, " ").trim();
    if (moveFocus) {
      focusable(target).focus();
      if (target.scrollIntoView) target.scrollIntoView({ block: "center" });
    }
    announce(words ? "There is a problem: " + words : "There is a problem with the form.");
    return true;
  }

  function onLoad() {
    var main = document.getElementById("main") || document.body;
    // Only where a form came back: a page that merely lists stored errors (an import's
    // rejected rows) has no form field marked invalid and no error next to a form.
    if (!main.querySelector("form")) return;
    errorsIn(main, true);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onLoad);
  } else {
    onLoad();
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    // The swap replaced the target itself (outerHTML): look in its successor.
    if (!target.isConnected && target.id) target = document.getElementById(target.id);
    // Validation as you type (the request came from a field, not a submit): say the
    // error but leave the focus where the person is typing.
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var typing = !!(source && source.matches && source.matches("input, select, textarea"));
    if (target) errorsIn(target, !typing);
  });
})();
