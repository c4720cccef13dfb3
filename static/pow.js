// Proof of work for the sign-in form of a network under a credential-
// stuffing wave (internal/pow): find a nonce such that
// SHA-256(challenge ":" nonce) starts with the challenge's number of zero
// bits, then submit. Self-hosted, no third party; about a second.
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var challenge = document.getElementById("pow-challenge");
  var nonceField = document.getElementById("pow-nonce");
  var status = document.getElementById("pow-status");
  if (!form || !challenge || !nonceField || !window.crypto || !window.crypto.subtle) {
    return;
  }
  var need = parseInt(challenge.value.split(".")[2], 10);
  var encoder = new TextEncoder();

  function zeroBits(bytes) {
    var n = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { n += 8; continue; }
      for (var b = 7; b >= 0; b--) {
        if (bytes[i] & (1 << b)) { return n; }
        n++;
      }
    }
    return n;
  }

  async function solve() {
    for (var n = 0; ; n++) {
      var digest = await window.crypto.subtle.digest("SHA-256", encoder.encode(challenge.value + ":" + n));
      if (zeroBits(new Uint8Array(digest)) >= need) {
        return String(n);
      }
    }
  }

  var solving = false;
  form.addEventListener("submit", function (event) {
    if (nonceField.value !== "" || solving) {
      return;
    }
    event.preventDefault();
    solving = true;
    if (status) { status.hidden = false; }
    solve().then(function (nonce) {
      nonceField.value = nonce;
      form.submit();
    });
  });
})();
