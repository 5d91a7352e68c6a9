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
})();
