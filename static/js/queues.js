// Decision queues (templates/registry/queue_claims.html, queue_mine.html, queue_security.html).
// Without this file every form still posts and the page comes back at the next row.
(function () {
  "use strict";

  // "Select all" for a bulk form: ticks the checkboxes that belong to it (form= attribute).
  function wireSelectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (button) {
      var formId = button.getAttribute("data-select-all");
      button.hidden = false;
      button.addEventListener("click", function () {
        var boxes = document.querySelectorAll('input[type="checkbox"][form="' + formId + '"]');
        var tick = Array.prototype.some.call(boxes, function (box) { return !box.checked; });
        boxes.forEach(function (box) { box.checked = tick; });
        button.textContent = tick ? "Select none" : "Select all";
      });
    });
  }

  // After a row is swapped for its outcome, focus moves to the next row's heading, so a
  // keyboard or screen-reader user carries on where the work is.
  function focusNext() {
    var done = document.querySelector(".queue-outcome[data-fresh]");
    if (!done) { return; }
    done.removeAttribute("data-fresh");
    var next = done.getAttribute("data-next");
    var row = next ? document.getElementById(next) : null;
    var target = row ? row.querySelector("h3") : done;
    if (target) {
      target.focus();
      target.scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("DOMContentLoaded", wireSelectAll);
  document.addEventListener("htmx:afterSettle", focusNext);
})();
