// The triage page: a pasted secret is hashed here (WebCrypto SHA-256) and only its
// fingerprint is sent. The textarea has no name, so the secret is never part of the
// form's data, even without this script.
(function () {
  "use strict";
  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }
  function ready() {
    var form = document.getElementById("triage-form");
    var secret = document.getElementById("triage-secret");
    if (!form || !secret) {
      return;
    }
    form.addEventListener("submit", function (event) {
      var text = secret.value;
      if (!text) {
        return;
      }
      event.preventDefault();
      var status = document.getElementById("triage-hash-status");
      if (!window.crypto || !window.crypto.subtle) {
        if (status) {
          status.textContent = "This browser cannot hash here (WebCrypto needs HTTPS).";
        }
        return;
      }
      // Trailing newlines are what a paste usually adds, not part of the credential.
      var bytes = new TextEncoder().encode(text.replace(/[\r\n]+$/, ""));
      window.crypto.subtle.digest("SHA-256", bytes).then(function (digest) {
        secret.value = "";
        form.elements.value.value = hex(digest);
        form.elements.kind.value = "fingerprint";
        if (status) {
          status.textContent = "Hashed in your browser; only the fingerprint is sent.";
        }
        form.submit();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
