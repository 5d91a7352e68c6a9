// The one-time reveal of a new API token (templates/registry/team_detail.html).
// Without this script the page still works: the token is a read-only field to copy by
// hand, and a reload re-sends the form, which the server answers with the team page.
(function () {
  "use strict";
  var reveal = document.querySelector("[data-token-reveal]");
  if (!reveal) {
    return;
  }
  // This page answered a POST. Make its history entry the team page, so a reload (or
  // coming back to it) fetches the team page instead of offering to send the form again.
  window.history.replaceState(null, "", reveal.getAttribute("data-team-url"));

  var button = reveal.querySelector("[data-copy]");
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = reveal.querySelector("[data-copy-status]");
  field.focus();
  field.select();
  if (!navigator.clipboard || !window.isSecureContext) {
    return; // no clipboard API here (plain http): the selected field is the way to copy
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = "";
    navigator.clipboard.writeText(field.value).then(
      function () {
        status.textContent = "Copied";
      },
      function () {
        field.focus();
        field.select();
        status.textContent = "Could not copy: the token is selected, press Ctrl+C (⌘C on a Mac).";
      }
    );
  });
})();
