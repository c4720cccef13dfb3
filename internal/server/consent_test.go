package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
)

// Habeas data (Ley 1581 de 2012, Decreto 1377 de 2013): the consent page in
// the authorization flow. The H-numbers are the rows of
// shared/HABEAS_DATA.md; docs/compliance.md maps each to these tests.

// newUser creates a user who has authorized nothing yet.
func (e *env) newUser(t *testing.T, username string, roles ...string) *identity.User {
	t.Helper()
	hash, _ := identity.HashPassword(testPassword, identity.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	u := &identity.User{Username: username, Email: username + "@example.co", PasswordHash: hash, Roles: roles}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) consentEntries(t *testing.T, userID string) []identity.LedgerEntry {
	t.Helper()
	entries, err := identity.ConsentEntries(context.Background(), e.store, userID)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// toConsent runs an authorization request for a user without consent and
// returns the consent page's response and body.
func (e *env) toConsent(t *testing.T, c *http.Client, username string, extra url.Values) (string, *http.Response, string) {
	t.Helper()
	verifier, challenge := pkcePair()
	resp := e.login(c, e.authURL(merge(challenge, url.Values{"scope": {"openid roles"}}, extra)), username, testPassword)
	body := readAll(t, resp)
	if resp.Request.URL.Path != "/consent" {
		t.Fatalf("expected the consent page, got %d %s", resp.StatusCode, resp.Request.URL)
	}
	return verifier, resp, body
}

var checkedInput = regexp.MustCompile(`<input[^>]*\bchecked\b`)

// TestH1ConsentIsPriorExpressAndInformed: nothing is pre-ticked; accepting
// without the required purpose records nothing and grants nothing; an
// explicit acceptance is recorded with every H3 field and lets the flow
// finish.
func TestH1ConsentIsPriorExpressAndInformed(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	bob := e.newUser(t, "bob")
	c := e.browser()
	verifier, resp, body := e.toConsent(t, c, "bob", nil)
	if checkedInput.MatchString(body) {
		t.Fatal("the consent page has a pre-checked input")
	}
	flow := resp.Request.URL.Query().Get("flow")

	resp, body = e.submit(c, "/consent", url.Values{"flow": {flow}, "decision": {"accept"}, "birth_date": {"1990-05-01"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || checkedInput.MatchString(body) {
		t.Fatalf("accept with nothing ticked: %d", resp.StatusCode)
	}
	if n := len(e.consentEntries(t, bob.ID)); n != 0 {
		t.Fatalf("silence recorded %d consent entries", n)
	}

	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/consent", strings.NewReader(url.Values{
		"flow": {flow}, "decision": {"accept"}, "birth_date": {"1990-05-01"}, "purpose": {"account", "analytics"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "ConsentTest/1.0")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	claims := e.idTokenFor(t, e.follow(c, resp), verifier)
	if claims["sub"] != bob.ID {
		t.Fatalf("sub %v", claims["sub"])
	}

	entries := e.consentEntries(t, bob.ID)
	if len(entries) != 1 {
		t.Fatalf("want one consent entry, got %d", len(entries))
	}
	got := entries[0]
	if got.Type != identity.ConsentAccepted || got.ClientID != "mobile" || got.UserAgent != "ConsentTest/1.0" || got.IP == "" ||
		got.Locale != "es-CO" || got.Actor != "" || got.Hash == "" {
		t.Fatalf("entry: %+v", got)
	}
	var rec identity.ConsentRecord
	if err := json.Unmarshal(got.Payload, &rec); err != nil {
		t.Fatal(err)
	}
	set := e.srv.Legal()
	if rec.Policy.Version != set.Policy.Version || rec.Policy.SHA256 != set.Policy.Texts["es-CO"].SHA256 ||
		rec.Notice.SHA256 != set.Notice.Texts["es-CO"].SHA256 || rec.Responsable.NIT != set.Responsable.NIT {
		t.Fatalf("record texts: %+v", rec)
	}
	granted := map[string]bool{}
	for _, d := range rec.Purposes {
		granted[d.ID] = d.Granted
		if p, _ := set.Purpose(d.ID); d.SHA256 != p.SHA256() || d.Version != p.Version {
			t.Errorf("purpose %s recorded with %s/%s", d.ID, d.Version, d.SHA256)
		}
	}
	if !granted["account"] || granted["marketing"] || !granted["analytics"] || len(granted) != 3 {
		t.Fatalf("decisions: %v", granted)
	}

	// Authorized: the next request goes straight through.
	verifier, resp = e.authorizeWith(c, nil)
	e.idTokenFor(t, resp, verifier)
}

// TestH1DenialEndsTheFlowAndIsRecorded: "No autorizo" sends the client
// access_denied and is itself recorded; prompt=none cannot skip the page.
func TestH1DenialEndsTheFlowAndIsRecorded(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	carol := e.newUser(t, "carol")
	c := e.browser()
	_, resp, _ := e.toConsent(t, c, "carol", nil)
	flow := resp.Request.URL.Query().Get("flow")
	resp, _ = e.submit(c, "/consent", url.Values{"flow": {flow}, "decision": {"deny"}})
	if q := e.redirectQuery(resp); q.Get("error") != "access_denied" {
		t.Fatalf("denial: %v", q)
	}
	entries := e.consentEntries(t, carol.ID)
	if len(entries) != 1 || entries[0].Type != identity.ConsentDenied {
		t.Fatalf("denial not recorded: %+v", entries)
	}
	// A new request asks again; with prompt=none the client learns why.
	_, resp = e.authorizeWith(c, url.Values{"prompt": {"none"}})
	if q := e.redirectQuery(resp); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	_, resp = e.authorizeWith(c, nil)
	readAll(t, resp)
	if resp.Request.URL.Path != "/consent" {
		t.Fatalf("after a denial, a new request must ask again: %s", resp.Request.URL)
	}
}

// TestH2DutyToInform: the page shows every element of Ley 1581 art. 12 and
// Decreto 1377 art. 15, in es-CO and in en.
func TestH2DutyToInform(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.newUser(t, "dora")
	set := e.srv.Legal()
	for _, lang := range []string{"es-CO", "en"} {
		t.Run(lang, func(t *testing.T) {
			c := e.browser()
			jar, _ := url.Parse(e.issuer)
			c.Jar.SetCookies(jar, []*http.Cookie{{Name: "portero_lang", Value: lang}})
			_, _, body := e.toConsent(t, c, "dora", nil)
			r := set.Responsable
			markup := []string{`href="/legal/policy/` + set.Policy.Version + `"`, `href="/legal/notice/` + set.Notice.Version + `"`,
				`id="rights"`, `id="optional-answers"`, `id="processors"`, `name="decision" value="accept"`, `name="decision" value="deny"`}
			for _, p := range set.Purposes {
				markup = append(markup, `name="purpose" value="`+p.ID+`"`)
			}
			for _, m := range markup {
				if !strings.Contains(body, m) {
					t.Errorf("the %s consent page lacks %s", lang, m)
				}
			}
			want := []string{r.Name, r.NIT, r.Address, r.Email, r.Phone, set.Processors[0].Name}
			for _, p := range set.Purposes {
				want = append(want, p.Title[lang])
			}
			rights := map[string][]string{
				"es-CO": {"Conocer, actualizar y rectificar", "Solicitar prueba de la autorización", "Ser informado, previa solicitud",
					"Superintendencia de Industria y Comercio", "Revocar la autorización", "Acceder en forma gratuita", "no está obligado"},
				"en": {"Know, update and rectify", "Request proof of the authorization", "Be informed, on request",
					"Superintendencia de Industria y Comercio", "Revoke the authorization", "Access free of charge", "not obliged"},
			}
			want = append(want, rights[lang]...)
			for _, w := range want {
				if !strings.Contains(body, htmlEscape(w)) {
					t.Errorf("the %s consent page lacks %q", lang, w)
				}
			}
			if n := strings.Count(body, " required"); n < 1 {
				t.Error("the required purpose is not marked required")
			}
		})
	}
	// The linked texts are served, versioned, with their digest.
	for _, path := range []string{"/legal/policy", "/legal/policy/" + set.Policy.Version, "/legal/notice/" + set.Notice.Version} {
		resp, body := e.page(e.browser(), path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, set.Responsable.NIT) {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := e.page(e.browser(), "/legal/policy/1999-01-01"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown version: %d", resp.StatusCode)
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// copyLegal copies the example legal set into a temporary directory and
// applies edit to its legal.yaml.
func copyLegal(t *testing.T, edit func(yaml string) string) string {
	t.Helper()
	dir := t.TempDir()
	src := "../legal/example"
	files, _ := os.ReadDir(src)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if f.Name() == "legal.yaml" {
			b = []byte(edit(string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "legal.yaml")
}

// TestH4NewPurposeNeedsNewConsent: a purpose whose version changes is asked
// again at the next sign-in, alone; a text changed without a new version
// stops start-up; old versions stay readable.
func TestH4NewPurposeNeedsNewConsent(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	cfg := config.Defaults()
	cfg.Issuer = e.issuer
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.Accounts.Argon2MemoryKiB, cfg.Accounts.Argon2Iterations, cfg.Accounts.Argon2Parallelism = 1024, 1, 1
	cfg.OAuth.ClientCacheTTL = 0
	cfg.Accounts.MFARequiredRoles = []string{"admin"}

	// A text changed under the same version is refused.
	cfg.Legal.File = copyLegal(t, func(y string) string {
		return strings.Replace(y, "Analizar de forma agregada", "Analizar de forma individual", 1)
	})
	if _, err := server.NewWithStore(context.Background(), cfg, e.store, discardLogger()); !errors.Is(err, identity.ErrLegalTextChanged) {
		t.Fatalf("a changed purpose without a new version: %v", err)
	}

	// With a new version it is published, and alice (who authorized
	// version 1 of everything) is asked about that purpose only.
	cfg.Legal.File = copyLegal(t, func(y string) string {
		y = strings.Replace(y, "Analizar de forma agregada", "Analizar de forma individual", 1)
		i := strings.Index(y, "- id: analytics")
		return y[:i] + strings.Replace(y[i:], `version: "1"`, `version: "2"`, 1)
	})
	srv2, err := server.NewWithStore(context.Background(), cfg, e.store, server.WithRequestIDs(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv2
	e.ts.Config.Handler = srv2.Handler
	c := e.browser()
	_, resp, body := e.toConsent(t, c, "alice", nil)
	if !strings.Contains(body, `value="analytics"`) || strings.Contains(body, `value="account"`) || strings.Contains(body, `value="marketing"`) {
		t.Fatalf("the page should list only the changed purpose:\n%s", body)
	}
	if strings.Contains(body, `class="notice"`) {
		t.Error("the policy did not change, yet the page says it did")
	}
	flow := resp.Request.URL.Query().Get("flow")
	resp, _ = e.submit(c, "/consent", url.Values{"flow": {flow}, "decision": {"accept"}, "birth_date": {"1990-05-01"}})
	if q := e.redirectQuery(resp); q.Get("code") == "" {
		t.Fatalf("an optional purpose may be declined: %v", q)
	}
	st, _ := identity.FoldConsent(e.consentEntries(t, e.userID))
	if d := st.Purposes["analytics"]; d.Version != "2" || d.Granted {
		t.Fatalf("analytics decision: %+v", d)
	}
	if !st.Purposes["account"].Granted {
		t.Fatal("the account purpose was lost")
	}
}

// consentedUser signs a new user in through the consent page (account and
// marketing ticked) and returns the browser, the user and the tokens.
func (e *env) consentedUser(t *testing.T, username string) (*http.Client, *identity.User, map[string]any) {
	t.Helper()
	u := e.newUser(t, username)
	c := e.browser()
	verifier, resp, _ := e.toConsent(t, c, username, nil)
	flow := resp.Request.URL.Query().Get("flow")
	resp, _ = e.submit(c, "/consent", url.Values{"flow": {flow}, "decision": {"accept"}, "birth_date": {"1990-05-01"}, "purpose": {"account", "marketing"}})
	q := e.redirectQuery(resp)
	status, tokens := e.exchange(q.Get("code"), verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	return c, u, tokens
}

// TestH3ProofOfAuthorization: the titular downloads a receipt naming the
// exact texts (and their digests) shown; another user's receipt does not
// exist for them; after the policy changes, the old receipt still shows
// the old text.
func TestH3ProofOfAuthorization(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c, erin, _ := e.consentedUser(t, "erin")
	seq := e.consentEntries(t, erin.ID)[0].Seq

	_, body := e.page(c, "/account/data")
	for _, want := range []string{`id="purpose-account"`, `id="revoke-account"`, `id="revoke-marketing"`, `/account/data/receipts/` + strconv.FormatInt(seq, 10)} {
		if !strings.Contains(body, want) {
			t.Errorf("my data page lacks %s", want)
		}
	}
	resp, body := e.page(c, "/account/data/receipts/"+strconv.FormatInt(seq, 10)+".json")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("JSON receipt: %d %v", resp.StatusCode, resp.Header)
	}
	var rc struct {
		Seq        int64  `json:"seq"`
		Type       string `json:"type"`
		Subject    string `json:"subject"`
		Hash       string `json:"hash"`
		ClientID   string `json:"client_id"`
		LocalTime  string `json:"occurred_at_colombia"`
		PolicyText struct {
			SHA256, Body, Version string
		} `json:"policy_text"`
		PurposeTexts []struct{ Ref, SHA256, Body string } `json:"purpose_texts"`
	}
	if err := json.Unmarshal([]byte(body), &rc); err != nil {
		t.Fatal(err)
	}
	set := e.srv.Legal()
	if rc.Seq != seq || rc.Type != identity.ConsentAccepted || rc.Subject != erin.ID || rc.ClientID != "mobile" || len(rc.Hash) != 64 ||
		!strings.HasSuffix(rc.LocalTime, "-05:00") || rc.PolicyText.Body != set.Policy.Texts["es-CO"].Body ||
		identity.Digest(rc.PolicyText.Body) != rc.PolicyText.SHA256 || len(rc.PurposeTexts) != 3 {
		t.Fatalf("receipt: %+v", rc)
	}
	resp, body = e.page(c, "/account/data/receipts/"+strconv.FormatInt(seq, 10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="receipt-policy"`) || !strings.Contains(body, rc.Hash) {
		t.Fatalf("printable receipt: %d", resp.StatusCode)
	}
	// Someone else's receipt, or alice's, is not there for erin.
	aliceSeq := e.consentEntries(t, e.userID)[0].Seq
	for _, path := range []string{"/account/data/receipts/" + strconv.FormatInt(aliceSeq, 10), "/account/data/receipts/99999.json"} {
		if resp, _ := e.page(c, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}

	// A new policy version: erin's receipt still shows the text she saw.
	cfg := config.Defaults()
	cfg.Issuer, cfg.Secrets.System = e.issuer, "test-system-secret-0123456789abcdefghij"
	cfg.Accounts.MFARequiredRoles = []string{"admin"}
	dir := filepath.Dir(copyLegal(t, func(y string) string {
		return strings.Replace(y, `version: "2026-11-01"
  files:
    es-CO: policy.es-CO.md`, `version: "2027-01-15"
  files:
    es-CO: policy.es-CO.md`, 1)
	}))
	if err := os.WriteFile(filepath.Join(dir, "policy.es-CO.md"), []byte("# Política nueva\n\nOtro texto.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Legal.File = filepath.Join(dir, "legal.yaml")
	srv2, err := server.NewWithStore(context.Background(), cfg, e.store, server.WithRequestIDs(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = srv2.Handler
	_, body = e.page(c, "/account/data/receipts/"+strconv.FormatInt(seq, 10)+".json")
	if !strings.Contains(body, rc.PolicyText.SHA256) || strings.Contains(body, "Política nueva") {
		t.Fatal("the old receipt changed with the policy")
	}
	if _, body := e.page(c, "/legal/policy/2026-11-01"); !strings.Contains(body, "Mercado Andino") {
		t.Fatal("the old policy version is no longer served")
	}
	// At the next sign-in the new policy is asked for.
	_, resp = e.authorizeWith(c, nil)
	if body := readAll(t, resp); resp.Request.URL.Path != "/consent" || !strings.Contains(body, `class="notice"`) {
		t.Fatalf("a new policy version must be accepted: %s", resp.Request.URL)
	}
}

// TestH5RevocationTakesEffectAtOnce: revoking the purpose the client's
// scopes depend on makes the tokens issued before inactive at
// introspection in the very next request, and the next authorization asks
// for consent again; revoking an optional purpose is recorded too.
func TestH5RevocationTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c, frank, tokens := e.consentedUser(t, "frank")
	access, refresh := tokens["access_token"].(string), tokens["refresh_token"]
	if active := e.introspect(access)["active"]; active != true {
		t.Fatalf("fresh token: %v", active)
	}
	resp, _ := e.submit(c, "/account/data/revoke", url.Values{"purpose": {"marketing"}})
	if resp.Request.URL.Query().Get("notice") != "revoked" {
		t.Fatalf("revoke marketing: %s", resp.Request.URL)
	}
	if active := e.introspect(access)["active"]; active != true {
		t.Fatal("an optional purpose without scopes should not end tokens")
	}
	e.submit(c, "/account/data/revoke", url.Values{"purpose": {"account"}})
	if active := e.introspect(access)["active"]; active != false {
		t.Fatalf("access token after revoking its purpose: active=%v", active)
	}
	if refresh != nil {
		status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.(string)}, "client_id": {"mobile"}})
		if status == http.StatusOK {
			t.Fatalf("refresh after revocation: %v", body)
		}
	}
	types := []string{}
	for _, en := range e.consentEntries(t, frank.ID) {
		types = append(types, en.Type)
	}
	if strings.Join(types, ",") != "consent.accepted,consent.revoked,consent.revoked" {
		t.Fatalf("ledger: %v", types)
	}
	_, resp = e.authorizeWith(c, nil)
	readAll(t, resp)
	if resp.Request.URL.Path != "/consent" {
		t.Fatalf("after revoking the required purpose: %s", resp.Request.URL)
	}
}

// TestScopeConsentPerClient: a third-party client's scopes need the user's
// permission; a remembered permission skips the page, prompt=consent asks
// again, denial ends the flow, and withdrawing it on the account page
// ends the client's tokens at once.
func TestScopeConsentPerClient(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.createClient(&identity.Client{
		ID: "partner", Name: "Partner app", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs: []string{mobileScheme}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "email", "offline_access"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
	})
	partner := func(extra url.Values) url.Values {
		return merge(url.Values{"client_id": {"partner"}, "scope": {"openid email"}}, extra)
	}
	c := e.browser()
	e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})

	_, resp := e.authorizeWith(c, partner(nil))
	body := readAll(t, resp)
	if resp.Request.URL.Path != "/consent/scopes" || !strings.Contains(body, "Partner app") || !strings.Contains(body, "<code>email</code>") ||
		checkedInput.MatchString(body) {
		t.Fatalf("scope page: %s\n%s", resp.Request.URL, body)
	}
	flow := resp.Request.URL.Query().Get("flow")
	resp, _ = e.submit(c, "/consent/scopes", url.Values{"flow": {flow}, "decision": {"deny"}})
	if q := e.redirectQuery(resp); q.Get("error") != "access_denied" {
		t.Fatalf("deny: %v", q)
	}
	// prompt=none cannot get past a missing permission.
	_, resp = e.authorizeWith(c, partner(url.Values{"prompt": {"none"}}))
	if q := e.redirectQuery(resp); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none: %v", q)
	}

	// Allow, remembered.
	verifier, resp := e.authorizeWith(c, partner(nil))
	readAll(t, resp)
	flow = resp.Request.URL.Query().Get("flow")
	resp, _ = e.submit(c, "/consent/scopes", url.Values{"flow": {flow}, "decision": {"allow"}, "remember": {"on"}})
	q := e.redirectQuery(resp)
	status, _, tokens := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {mobileScheme}, "client_id": {"partner"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	if scope := tokens["scope"]; scope != "openid email" && scope != "email openid" {
		t.Fatalf("granted scope %v", scope)
	}
	access := tokens["access_token"].(string)

	// Remembered: straight through; prompt=consent asks again.
	_, resp = e.authorizeWith(c, partner(nil))
	if q := e.redirectQuery(resp); q.Get("code") == "" {
		t.Fatalf("remembered permission: %v", q)
	}
	_, resp = e.authorizeWith(c, partner(url.Values{"prompt": {"consent"}}))
	readAll(t, resp)
	if resp.Request.URL.Path != "/consent/scopes" {
		t.Fatalf("prompt=consent: %s", resp.Request.URL)
	}
	// A first-party client never sees the page.
	verifier, resp = e.authorizeWith(c, nil)
	e.idTokenFor(t, resp, verifier)

	// Withdrawn from the account page: the partner's token dies now.
	_, body = e.page(c, "/account/data")
	if !strings.Contains(body, `id="revoke-client-partner"`) {
		t.Fatal("the account page does not list the partner")
	}
	resp, _ = e.submit(c, "/account/data/clients/revoke", url.Values{"client": {"partner"}})
	if resp.Request.URL.Query().Get("notice") != "client_revoked" {
		t.Fatalf("withdraw: %s", resp.Request.URL)
	}
	if active := e.introspect(access)["active"]; active != false {
		t.Fatalf("partner token after withdrawal: %v", active)
	}
	_, resp = e.authorizeWith(c, partner(nil))
	readAll(t, resp)
	if resp.Request.URL.Path != "/consent/scopes" {
		t.Fatalf("after withdrawal the page must ask again: %s", resp.Request.URL)
	}
	var types []string
	for _, en := range e.consentEntries(t, e.userID) {
		types = append(types, en.Type)
	}
	want := "consent.accepted,consent.scopes_denied,consent.scopes_granted,consent.scopes_revoked"
	if strings.Join(types, ",") != want {
		t.Fatalf("ledger %v, want %s", types, want)
	}
}

// TestH8MinorCannotAuthorizeAlone: a minor's acceptance without a legal
// representative records nothing; with one, the representative is the
// recorded actor; with legal.minors=refuse, minors cannot sign up at all.
func TestH8MinorCannotAuthorizeAlone(t *testing.T) {
	for _, policy := range []string{identity.MinorsRepresentative, identity.MinorsRefuse} {
		t.Run(policy, func(t *testing.T) {
			e := newEnv(t, sqlite(), func(c *config.Config) { c.Legal.Minors = policy })
			kid := e.newUser(t, "kid")
			c := e.browser()
			verifier, resp, body := e.toConsent(t, c, "kid", nil)
			if policy == identity.MinorsRepresentative && !strings.Contains(body, `id="representative"`) {
				t.Fatal("the page offers no representative section")
			}
			flow := resp.Request.URL.Query().Get("flow")
			base := url.Values{"flow": {flow}, "decision": {"accept"}, "purpose": {"account"}}
			tenYearsAgo := time.Now().AddDate(-10, 0, 0).Format(time.DateOnly)
			for _, form := range []url.Values{
				merge(base), // age not stated
				merge(base, url.Values{"birth_date": {tenYearsAgo}}), // a minor alone
				merge(base, url.Values{"document_type": {"TI"}}),     // a minor by document
				merge(base, url.Values{"birth_date": {tenYearsAgo}, "representative_name": {"Ana Pérez"}, "representative_relation": {"madre"},
					"representative_document": {"CC 52.123.456"}}), // no confirmation
			} {
				if resp, _ := e.submit(c, "/consent", form); resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%v: %d", form, resp.StatusCode)
				}
			}
			withRep := merge(base, url.Values{"birth_date": {tenYearsAgo}, "representative_name": {"Ana Pérez"}, "representative_relation": {"madre"},
				"representative_document": {"CC 52.123.456"}, "representative_confirm": {"on"}})
			resp, _ = e.submit(c, "/consent", withRep)
			entries := e.consentEntries(t, kid.ID)
			if policy == identity.MinorsRefuse {
				if resp.StatusCode != http.StatusBadRequest || len(entries) != 0 {
					t.Fatalf("refuse policy: %d, %d entries", resp.StatusCode, len(entries))
				}
				return
			}
			if len(entries) != 1 || entries[0].Actor != identity.ConsentActorRepresentative {
				t.Fatalf("entries: %+v", entries)
			}
			var rec identity.ConsentRecord
			_ = json.Unmarshal(entries[0].Payload, &rec)
			if !rec.Minor || !strings.Contains(rec.Representative, "Ana Pérez") || !strings.Contains(rec.Representative, "madre") ||
				strings.Contains(string(entries[0].Payload), tenYearsAgo) {
				t.Fatalf("representative: %q", rec.Representative)
			}
			e.idTokenFor(t, resp, verifier)
		})
	}
}

// TestH12ProcessorsAreShown: the processors (encargados) the legal file
// lists, with their country and purpose, are on the consent page in both
// languages.
func TestH12ProcessorsAreShown(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	e.newUser(t, "gina")
	p := e.srv.Legal().Processors[0]
	for _, lang := range []string{"es-CO", "en"} {
		c := e.browser()
		jar, _ := url.Parse(e.issuer)
		c.Jar.SetCookies(jar, []*http.Cookie{{Name: "portero_lang", Value: lang}})
		_, _, body := e.toConsent(t, c, "gina", nil)
		for _, want := range []string{p.Name, "(" + p.Country + ")", p.Purpose[lang]} {
			if !strings.Contains(body, htmlEscape(want)) {
				t.Errorf("%s: the consent page lacks %q", lang, want)
			}
		}
	}
}

// TestDataExport: the titular downloads everything Portero holds about
// them; no secret (password hash, TOTP secret, recovery codes) is in it.
func TestDataExport(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c, hana, _ := e.consentedUser(t, "hana")
	resp, body := e.page(c, "/account/data/export.json")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	var out struct {
		Profile  struct{ ID, Username, Email string }
		Sessions []struct{ IP string }
		Records  []struct{ Kind, Type string } `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range out.Records {
		kinds[r.Kind+"/"+r.Type] = true
	}
	if out.Profile.ID != hana.ID || out.Profile.Email != "hana@example.co" || len(out.Sessions) != 1 ||
		!kinds["consent/consent.accepted"] || !kinds["audit/login.success"] {
		t.Fatalf("export: %+v", out)
	}
	if strings.Contains(body, "argon2id") || strings.Contains(body, hana.PasswordHash) {
		t.Fatal("the export leaks the password hash")
	}
}

// TestBackchannelLogoutOnRevocation: revoking the purpose a client's
// tokens depend on sends that client a signed OIDC Back-Channel Logout
// token (typ logout+jwt, the subject, the event, no nonce).
func TestBackchannelLogoutOnRevocation(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	received := make(chan string, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		received <- r.PostForm.Get("logout_token")
	}))
	t.Cleanup(rp.Close)
	e.createShop(rp.URL + "/backchannel")
	c := e.browser()
	e.submit(c, "/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	verifier, resp := e.authorizeWith(c, url.Values{"client_id": {"shop"}})
	q := e.redirectQuery(resp)
	status, _, tokens := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {mobileScheme}, "client_id": {"shop"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	e.submit(c, "/account/data/revoke", url.Values{"purpose": {"account"}})
	e.srv.WaitBackground()
	var token string
	select {
	case token = <-received:
	default:
		t.Fatal("no logout token was delivered")
	}
	keys := oidc.NewRemoteKeySet(context.Background(), e.issuer+"/.well-known/jwks.json")
	if _, err := keys.VerifySignature(context.Background(), token); err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	header, claims := decodeJWT(t, token)
	events, _ := claims["events"].(map[string]any)
	if header["typ"] != "logout+jwt" || claims["iss"] != e.issuer || claims["sub"] != e.userID || claims["jti"] == nil ||
		events["http://schemas.openid.net/event/backchannel-logout"] == nil || claims["nonce"] != nil {
		t.Fatalf("logout token: %v %v", header, claims)
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "shop" {
		t.Fatalf("aud %v", claims["aud"])
	}
}

// TestH5AnsweredDeletionErasesTheAccount: an administrator answering a
// supresión erases the account (tokens die at once) and keeps only the
// ledger, whose chain still verifies.
func TestH5AnsweredDeletionErasesTheAccount(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c, ivan, tokens := e.consentedUser(t, "ivan")
	req := e.fileRequest(t, c, ivan.ID, identity.RequestDelete, "Borren mi cuenta")
	a := e.newAdmin(t, "root")
	resp, body := e.act(a, req.ID, "answer", url.Values{"answer": {"Su cuenta fue borrada."}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("notice") != "erased" {
		t.Fatalf("answer deletion: %d %s\n%s", resp.StatusCode, resp.Request.URL, alertOf(body))
	}
	if _, err := e.store.UserByID(context.Background(), ivan.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("the account survived: %v", err)
	}
	if active := e.introspect(tokens["access_token"].(string))["active"]; active != false {
		t.Fatalf("token after erasure: %v", active)
	}
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{Subject: ivan.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, en := range entries {
		types[en.Type] = true
	}
	if !types[identity.ConsentAccepted] || !types[identity.AuditAccountDeleted] {
		t.Fatalf("the proof was not kept: %v", types)
	}
	if _, err := identity.VerifyLedger(context.Background(), e.store); err != nil {
		t.Fatalf("ledger after erasure: %v", err)
	}
	if resp, _ := e.page(c, "/account"); resp.Request.URL.Path != "/login" {
		t.Fatalf("the erased user's browser is still signed in: %s", resp.Request.URL)
	}
}

// createShop registers "shop", a first-party public client whose
// back-channel logout URI is backchannel.
func (e *env) createShop(backchannel string) {
	e.createClient(&identity.Client{
		ID: "shop", Name: "Shop", TokenEndpointAuthMethod: identity.AuthMethodNone, FirstParty: true,
		RedirectURIs: []string{mobileScheme}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid"}, TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
		BackchannelLogoutURI: backchannel,
	})
}

// TestOptInLater: a purpose the titular revoked (or declined) can be
// authorized again from the my-data page, from its text in force, and the
// authorization is on the ledger like any other.
func TestOptInLater(t *testing.T) {
	e := newEnv(t, sqlite(), nil)
	c, gina, _ := e.consentedUser(t, "gina")
	e.submit(c, "/account/data/revoke", url.Values{"purpose": {"marketing"}})
	resp, err := c.Get(e.issuer + "/account/data")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="grant-marketing"`) {
		t.Fatalf("no way to authorize marketing again: %d", resp.StatusCode)
	}
	resp, _ = e.submit(c, "/account/data/grant", url.Values{"purpose": {"marketing"}})
	if resp.Request.URL.Query().Get("notice") != "granted" {
		t.Fatalf("grant: %s", resp.Request.URL)
	}
	entries := e.consentEntries(t, gina.ID)
	last := entries[len(entries)-1]
	var rec identity.ConsentRecord
	if err := json.Unmarshal(last.Payload, &rec); err != nil {
		t.Fatal(err)
	}
	if last.Type != identity.ConsentAccepted || len(rec.Purposes) != 1 || rec.Purposes[0].ID != "marketing" || !rec.Purposes[0].Granted ||
		rec.Purposes[0].SHA256 == "" {
		t.Fatalf("the authorization recorded: %s %+v", last.Type, rec)
	}
	if resp, _ := e.submit(c, "/account/data/grant", url.Values{"purpose": {"no-such-purpose"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown purpose: %d", resp.StatusCode)
	}
}
