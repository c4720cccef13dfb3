package browsertest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

// spaPage is a single-page app's one page, on its own origin: without a
// code it starts the code flow with PKCE S256; with one it redeems it at
// the token endpoint and calls userinfo from the page (fetch, so under
// CORS), then tries introspection, which must stay closed to browsers.
const spaPage = `<!doctype html><html><head><title>spa</title></head><body><p id="result">…</p><script>
const portero = PORTERO, clientID = "spa", redirect = location.origin + "/spa";
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const show = (text) => { document.getElementById("result").textContent = text; };
(async () => {
  const q = new URLSearchParams(location.search);
  if (!q.has("code")) {
    const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
    const state = b64(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem("verifier", verifier);
    sessionStorage.setItem("state", state);
    const challenge = b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    location.assign(portero + "/oauth2/auth?" + new URLSearchParams({response_type: "code", client_id: clientID,
      redirect_uri: redirect, scope: "openid profile", state, code_challenge: challenge, code_challenge_method: "S256"}));
    return;
  }
  if (q.get("state") !== sessionStorage.getItem("state")) { show("state mismatch"); return; }
  try {
    const tok = await (await fetch(portero + "/oauth2/token", {method: "POST", body: new URLSearchParams({grant_type: "authorization_code",
      code: q.get("code"), redirect_uri: redirect, client_id: clientID, code_verifier: sessionStorage.getItem("verifier")})})).json();
    const me = await (await fetch(portero + "/userinfo", {headers: {Authorization: "Bearer " + tok.access_token}})).json();
    let introspection = "open";
    try { await fetch(portero + "/oauth2/introspect", {method: "POST", body: new URLSearchParams({token: tok.access_token})}); }
    catch (e) { introspection = "closed"; }
    show("user=" + me.preferred_username + " introspection=" + introspection);
  } catch (e) { show("error: " + e); }
})();
</script></body></html>`

// TestSinglePageApp: a browser app on another origin does the code flow
// with PKCE, redeems the code and calls userinfo from the page, as its
// client's allowed origin; introspection stays closed to it.
func TestSinglePageApp(t *testing.T) {
	e := newEnv(t, nil)
	e.createUser("ana", "ana@example.co", "customer")
	spa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.Replace(spaPage, "PORTERO", `"`+e.issuer+`"`, 1))
	}))
	t.Cleanup(spa.Close)
	c := &identity.Client{ID: "spa", Name: "Shop SPA", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs: []string{spa.URL + "/spa"}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "profile"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		FirstParty: true, AllowedOrigins: []string{spa.URL}}
	if err := c.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, e, "en")
	b.open(spa.URL + "/spa")
	b.waitVisible("#login-form")
	b.signIn("ana", testPassword)
	b.waitVisible("#result")
	for deadline := time.Now().Add(10 * time.Second); b.text("#result") == "…" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if got := b.text("#result"); got != "user=ana introspection=closed" {
		t.Fatalf("the app's page says %q", got)
	}
}
