// The "Menu" button of the top bar. Without this script the button stays hidden and the
// menu stays open (it wraps under the brand), so every link is reachable without
// JavaScript. With it, narrow screens fold the menu behind the button (CSS decides the
// width: .topbar.has-menu in app.css); wide screens keep the menu open and hide the button.
(function () {
  "use strict";

  function setUp() {
    var button = document.querySelector(".topbar .menu-toggle");
    if (!button) return;
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    var bar = button.closest(".topbar");
    if (!menu || !bar) return;

    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }

    button.hidden = false;
    bar.classList.add("has-menu");
    setOpen(false);
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    // Escape closes the open menu and gives the focus back to its button.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || button.getAttribute("aria-expanded") !== "true") return;
      if (!menu.contains(document.activeElement) && document.activeElement !== button) return;
      setOpen(false);
      button.focus();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
