// Passkeys (WebAuthn) for Portero's pages: the only script Portero serves.
// Every page works without it; it only adds the passkey buttons, the
// browser's passkey autofill on the sign-in page (conditional UI) and
// passkey registration on the account page.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuf(c.id) });
    });
  }

  function post(path, params, body) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k]) q.set(k, params[k]); });
    return fetch(path + (q.toString() ? "?" + q : ""), {
      method: "POST",
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          // The server may ask for a fresh sign-in first.
          if (j.redirect) { window.location.assign(j.redirect); return new Promise(function () {}); }
          throw new Error(j.error || "http_" + r.status);
        }
        return j;
      });
    });
  }

  function assertionJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        authenticatorData: bufToB64url(r.authenticatorData),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : undefined
      }
    };
  }
  function attestationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        attestationObject: bufToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : undefined
      }
    };
  }

  function showError() {
    var e = document.getElementById("passkey-error");
    if (e) e.hidden = false;
  }

  // signIn runs one assertion ceremony. mediation "conditional" is the
  // autofill on the username field; an explicit click aborts it first.
  var pending = null;
  function signIn(flow, mediation) {
    if (pending) pending.abort();
    var ctrl = new AbortController();
    pending = ctrl;
    return post("/webauthn/login/begin", { flow: flow }).then(function (start) {
      var pk = start.options; // the server sends the publicKey options themselves
      pk.challenge = b64urlToBuf(pk.challenge);
      pk.allowCredentials = descriptors(pk.allowCredentials);
      var opts = { publicKey: pk, signal: ctrl.signal };
      if (mediation) opts.mediation = mediation;
      return navigator.credentials.get(opts).then(function (cred) {
        return post("/webauthn/login/finish", { ceremony: start.ceremony, flow: flow }, assertionJSON(cred));
      });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }, function (err) {
      // An abort is ours (a click replaced the autofill), not a failure.
      if (err && err.name === "AbortError") return;
      if (mediation === "conditional" && err && err.name === "NotAllowedError") return;
      showError();
    });
  }

  var loginButton = document.getElementById("passkey-login");
  if (loginButton) {
    var flow = loginButton.getAttribute("data-flow");
    loginButton.hidden = false;
    loginButton.addEventListener("click", function () { signIn(flow); });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (ok) signIn(flow, "conditional");
      });
    }
  }

  var mfaButton = document.getElementById("passkey-mfa");
  if (mfaButton) {
    mfaButton.addEventListener("click", function () { signIn(mfaButton.getAttribute("data-flow")); });
  }

  var register = document.getElementById("passkey-register");
  if (register) {
    register.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var name = register.querySelector("[name=name]").value;
      post("/webauthn/register/begin", {}).then(function (start) {
        var pk = start.options; // the server sends the publicKey options themselves
        pk.challenge = b64urlToBuf(pk.challenge);
        pk.user.id = b64urlToBuf(pk.user.id);
        pk.excludeCredentials = descriptors(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          return post("/webauthn/register/finish", { ceremony: start.ceremony, name: name }, attestationJSON(cred));
        });
      }).then(function (done) {
        window.location.assign(done.redirect);
      }, showError);
    });
  }
})();
