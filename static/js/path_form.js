// The register page's live check (HTMX) rewrites each field's error slot; the field
// itself is not re-rendered (that would lose the caret and the focus), so its
// aria-invalid is brought in line with its slot here. Its aria-describedby already
// names the slot, whose words a screen reader then reads with the field.
(function () {
  "use strict";
  function sync() {
    var slots = document.querySelectorAll(".path-form .field-errors");
    Array.prototype.forEach.call(slots, function (slot) {
      var field = document.querySelector('[aria-describedby~="' + slot.id + '"]');
      if (!field) {
        return;
      }
      if (slot.querySelector(".errorlist")) {
        field.setAttribute("aria-invalid", "true");
      } else {
        field.removeAttribute("aria-invalid");
      }
    });
  }
  document.addEventListener("htmx:afterSettle", sync);

  // Once the form is submitted, a live check still waiting for its delay (leaving a
  // field fires "change") is pointless and would race the registration itself: drop it,
  // and abort one already in flight.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form.path-form[hx-post]")) {
      form.setAttribute("data-submitting", "true");
      if (window.htmx) {
        window.htmx.trigger(form, "htmx:abort");
      }
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.getAttribute && form.getAttribute("data-submitting") === "true") {
      event.preventDefault();
    }
  });
})();
