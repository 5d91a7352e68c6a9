// A table wider than a phone scrolls inside its own box (app.css), and a keyboard user
// must be able to reach that box to scroll it: a box that really scrolls gets
// tabindex="0" (and, when it is a wrapper rather than the table itself, a named region).
// Boxes that fit get nothing, so the tab order stays short on wide screens. Checked on
// load, after every HTMX swap and when the window changes size.
(function () {
  "use strict";

  var BOXES = "main table, .table-scroll";

  function nameOf(box) {
    var table = box.tagName === "TABLE" ? box : box.querySelector("table");
    var caption = table && table.caption ? table.caption.textContent.trim() : "";
    if (caption) return caption;
    var section = box.closest("section");
    var heading = section && section.querySelector("h2, h3");
    return heading ? heading.textContent.trim() : "Table";
  }

  function scrolls(box) {
    var style = window.getComputedStyle(box);
    return (style.overflowX === "auto" || style.overflowX === "scroll") &&
      box.scrollWidth > box.clientWidth + 1;
  }

  function mark() {
    var boxes = document.querySelectorAll(BOXES);
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var ours = box.hasAttribute("data-scroll-box");
      if (scrolls(box)) {
        if (ours || box.hasAttribute("tabindex")) continue;
        box.setAttribute("data-scroll-box", "");
        box.setAttribute("tabindex", "0");
        if (box.tagName !== "TABLE") {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", nameOf(box) + " (scrolls sideways)");
        }
      } else if (ours) {
        box.removeAttribute("data-scroll-box");
        box.removeAttribute("tabindex");
        if (box.tagName !== "TABLE") {
          box.removeAttribute("role");
          box.removeAttribute("aria-label");
        }
      }
    }
  }

  var pending = 0;
  function later() {
    window.clearTimeout(pending);
    pending = window.setTimeout(mark, 150);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  document.addEventListener("htmx:afterSettle", mark);
  window.addEventListener("resize", later);
})();
