// The inventory's bulk bar (templates/registry/_bulk_bar.html) and filter form.
// Without this file everything still works: "Select all on this page" is a link that
// reloads the page with every row ticked, and the server drops empty filter parameters
// with a redirect. This only saves the round trips.
(function () {
  "use strict";
  if (window.nhiBulkWired) { return; }
  window.nhiBulkWired = true;

  function boxes() {
    return document.querySelectorAll('input[name="selected"][form="bulk-form"]');
  }

  function showCount() {
    var out = document.getElementById("bulk-count");
    var link = document.querySelector("[data-select-page]");
    var all = boxes();
    var ticked = Array.prototype.filter.call(all, function (box) { return box.checked; }).length;
    if (out) { out.textContent = ticked ? ticked + " selected" : ""; }
    if (link) {
      link.textContent = all.length && ticked === all.length ? "Clear the selection" : "Select all on this page";
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-select-page]");
    if (!link) { return; }
    event.preventDefault();
    var all = boxes();
    var tick = Array.prototype.some.call(all, function (box) { return !box.checked; });
    all.forEach(function (box) { box.checked = tick; });
    showCount();
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches('input[name="selected"]')) { showCount(); }
  });

  // The filter form sent by HTMX: leave empty fields out of the request and the URL.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.matches("form.filter-form")) { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "") { delete params[key]; }
    });
  });

  // The outcome of a bulk action is where the eye and the keyboard go first.
  function focusOutcome() {
    var heading = document.getElementById("bulk-results-title");
    if (heading) { heading.focus(); }
    showCount();
  }

  document.addEventListener("DOMContentLoaded", focusOutcome);
  document.addEventListener("htmx:afterSettle", showCount);
})();
