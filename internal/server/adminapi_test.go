package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/portero-id/portero/docs"
	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/testdb"
)

// The admin API (issue: admin and downstream). Every call of these tests
// goes through apiClient, which validates the request and the response
// against docs/openapi.yaml with kin-openapi (an independent reading of
// the document), and TestAdminAPI checks at the end that every operation
// of the document was exercised.

// adminSpec is the OpenAPI document, pointed at one test server.
type adminSpec struct {
	doc    *openapi3.T
	router routers.Router
	// seen are the operations exercised, by operationId.
	mu   sync.Mutex
	seen map[string]bool
}

func loadAdminSpec(t *testing.T, issuer string) *adminSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	doc.Servers = openapi3.Servers{{URL: issuer + "/admin/v1"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &adminSpec{doc: doc, router: router, seen: map[string]bool{}}
}

// operations lists every operationId of the document.
func (s *adminSpec) operations() []string {
	var out []string
	for _, item := range s.doc.Paths.Map() {
		for _, op := range item.Operations() {
			out = append(out, op.OperationID)
		}
	}
	slices.Sort(out)
	return out
}

// apiClient calls the admin API with one token.
type apiClient struct {
	e     *env
	spec  *adminSpec
	token string
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response %d is not a JSON object: %q", r.status, r.body)
	}
	return v
}

func (r apiResponse) items(t *testing.T) []map[string]any {
	t.Helper()
	var v struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response %d is not a list: %q", r.status, r.body)
	}
	return v.Items
}

// do sends one request; hdr is pairs of header names and values. The
// request (when it carries a token: the document requires one) and the
// response are validated against the document.
func (c *apiClient) do(t *testing.T, method, path string, body any, hdr ...string) apiResponse {
	t.Helper()
	return c.send(t, true, method, path, body, hdr...)
}

// doBad sends a request the document does not allow (to see it refused);
// only the response is validated.
func (c *apiClient) doBad(t *testing.T, method, path string, body any, hdr ...string) apiResponse {
	t.Helper()
	return c.send(t, false, method, path, body, hdr...)
}

func (c *apiClient) send(t *testing.T, validRequest bool, method, path string, body any, hdr ...string) apiResponse {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.e.issuer+"/admin/v1"+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	route, params, err := c.spec.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if validRequest && c.token != "" {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Fatalf("%s %s: the request does not match openapi.yaml: %v", method, path, err)
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: opts,
	})
	if err != nil {
		t.Fatalf("%s %s: the %d response does not match openapi.yaml: %v\n%s", method, path, resp.StatusCode, err, got)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, got)
	}
	c.spec.mu.Lock()
	c.spec.seen[route.Operation.OperationID] = true
	c.spec.mu.Unlock()
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: got}
}

// want checks the status (and, for an error, the problem's content type).
func (c *apiClient) want(t *testing.T, r apiResponse, status int) apiResponse {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %d, want %d: %s", r.status, status, r.body)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a %d answered %q, want application/problem+json", status, r.header.Get("Content-Type"))
	}
	return r
}

// serviceClient registers a client-credentials client with roles and
// scopes and returns an admin API client with its token.
func (e *env) serviceClient(t *testing.T, spec *adminSpec, id string, roles []string, scopes ...string) *apiClient {
	t.Helper()
	e.createClient(&identity.Client{
		ID: id, Name: id, TokenEndpointAuthMethod: identity.AuthMethodBasic,
		GrantTypes: []string{"client_credentials"}, Scopes: scopes, Roles: roles,
		TokenFormat: identity.TokenFormatOpaque, IDTokenSignedResponseAlg: "RS256",
	})
	return &apiClient{e: e, spec: spec, token: e.serviceToken(t, id, strings.Join(scopes, " "))}
}

func (e *env) serviceToken(t *testing.T, id, scope string) string {
	t.Helper()
	status, _, body := e.postForm("/oauth2/token", id, e.secrets[id], url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	if status != http.StatusOK {
		t.Fatalf("client credentials for %s: %d %v", id, status, body)
	}
	return body["access_token"].(string)
}

// consoleToken signs the user of browser c in to the "console" client
// (first party, admin scopes) and returns the access token.
func (e *env) consoleToken(t *testing.T, c *http.Client) string {
	t.Helper()
	verifier, challenge := pkcePair()
	resp, err := c.Get(e.authURL(merge(challenge, url.Values{"client_id": {"console"},
		"scope": {"openid portero:admin:read portero:admin:write"}})))
	if err != nil {
		t.Fatal(err)
	}
	q := e.redirectQuery(e.follow(c, resp))
	if q.Get("code") == "" {
		t.Fatalf("console: no code: %v", q)
	}
	status, _, body := e.postForm("/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {mobileScheme}, "client_id": {"console"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("console token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// deniedCount counts the admin.denied entries of an actor.
func (e *env) deniedCount(t *testing.T, actor string) int {
	t.Helper()
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{Actor: actor,
		Types: []string{"admin.denied"}, Limit: identity.LedgerMaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// ledgerTypes lists the types of an actor's admin entries, oldest first.
func (e *env) ledgerTypes(t *testing.T, actor string) []string {
	t.Helper()
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{Actor: actor, Limit: identity.LedgerMaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Type)
	}
	return out
}

var pathParam = regexp.MustCompile(`\{[a-z]+\}`)

func TestAdminAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newEnv(t, b, nil)
		spec := loadAdminSpec(t, e.issuer)
		ctx := context.Background()
		ops := e.serviceClient(t, spec, "ops", []string{"admin"}, "portero:admin:read", "portero:admin:write")
		root := e.serviceClient(t, spec, "root-ops", []string{"super_admin"}, "portero:admin:read", "portero:admin:write")
		reader := e.serviceClient(t, spec, "reader", []string{"admin"}, "portero:admin:read")
		anon := &apiClient{e: e, spec: spec}

		t.Run("the document is served without a token", func(t *testing.T) {
			r := anon.do(t, http.MethodGet, "/openapi.yaml", nil)
			if r.status != http.StatusOK || !bytes.Equal(r.body, docs.OpenAPI) {
				t.Fatalf("openapi.yaml: %d", r.status)
			}
		})

		t.Run("401 without a token or with an inactive one", func(t *testing.T) {
			r := anon.want(t, anon.do(t, http.MethodGet, "/users", nil), http.StatusUnauthorized)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			bogus := &apiClient{e: e, spec: spec, token: "portero_at_nope.nope"}
			r = bogus.want(t, bogus.do(t, http.MethodGet, "/users", nil), http.StatusUnauthorized)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})

		t.Run("403 and recorded: read scope only, or no admin role", func(t *testing.T) {
			r := reader.want(t, reader.do(t, http.MethodPost, "/keys/rotate", nil), http.StatusForbidden)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="portero:admin:write"`) {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			reader.want(t, reader.do(t, http.MethodGet, "/keys", nil), http.StatusOK)
			if n := e.deniedCount(t, "client:reader"); n != 1 {
				t.Fatalf("the refused write left %d ledger entries, want 1", n)
			}
		})

		t.Run("clients: create, page, read, update with If-Match, rotate, disable, delete", func(t *testing.T) {
			body := map[string]any{"client_id": "shop-api", "client_name": "Shop API", "grant_types": []string{"client_credentials"},
				"scopes": []string{"openid"}, "roles": []string{"vendor"}, "token_format": "opaque"}
			r := ops.want(t, ops.do(t, http.MethodPost, "/clients", body), http.StatusCreated)
			created := r.json(t)
			secret, _ := created["client_secret"].(string)
			if len(secret) < 32 || r.header.Get("Location") != "/admin/v1/clients/shop-api" {
				t.Fatalf("created: %v, Location %q", created, r.header.Get("Location"))
			}
			e.secrets["shop-api"] = secret
			first := e.serviceToken(t, "shop-api", "openid")
			ops.want(t, ops.do(t, http.MethodPost, "/clients", body), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodPost, "/clients", map[string]any{"client_id": "bad", "redirect_uris": []string{"javascript:alert(1)"}}), http.StatusUnprocessableEntity)
			ops.want(t, ops.doBad(t, http.MethodPost, "/clients", map[string]any{"client_id": "x", "secret_hash": "AAAA"}), http.StatusBadRequest)

			// Paging: every client once, in id order.
			var ids []string
			cursor := ""
			for range 10 {
				r := ops.want(t, ops.do(t, http.MethodGet, "/clients?limit=2&cursor="+cursor, nil), http.StatusOK)
				for _, it := range r.items(t) {
					ids = append(ids, it["client_id"].(string))
				}
				next, _ := r.json(t)["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			all, _ := e.store.ListClients(ctx)
			if len(ids) != len(all) || !slices.IsSorted(ids) {
				t.Fatalf("paged clients %v, want the %d clients in order", ids, len(all))
			}
			if r := ops.want(t, ops.do(t, http.MethodGet, "/clients?q=SHOP", nil), http.StatusOK); len(r.items(t)) != 1 {
				t.Fatalf("q=SHOP: %s", r.body)
			}
			ops.want(t, ops.doBad(t, http.MethodGet, "/clients?cursor=!!", nil), http.StatusBadRequest)
			ops.want(t, ops.doBad(t, http.MethodGet, "/clients?limit=0", nil), http.StatusBadRequest)

			r = ops.want(t, ops.do(t, http.MethodGet, "/clients/shop-api", nil), http.StatusOK)
			etag := r.header.Get("ETag")
			update := map[string]any{"client_name": "Shop API v2", "grant_types": []string{"client_credentials"},
				"scopes": []string{"openid"}, "roles": []string{"vendor", "customer"}, "token_format": "opaque"}
			ops.want(t, ops.doBad(t, http.MethodPut, "/clients/shop-api", update), http.StatusPreconditionRequired)
			ops.want(t, ops.do(t, http.MethodPut, "/clients/shop-api", update, "If-Match", `"stale"`), http.StatusPreconditionFailed)
			r = ops.want(t, ops.do(t, http.MethodPut, "/clients/shop-api", update, "If-Match", etag), http.StatusOK)
			if r.json(t)["client_name"] != "Shop API v2" || r.header.Get("ETag") == etag {
				t.Fatalf("updated: %s (ETag %s)", r.body, r.header.Get("ETag"))
			}
			// The ETag read before the update no longer matches.
			ops.want(t, ops.do(t, http.MethodPut, "/clients/shop-api", update, "If-Match", etag), http.StatusPreconditionFailed)
			ops.want(t, ops.do(t, http.MethodPut, "/clients/shop-api", map[string]any{"public": true}, "If-Match", r.header.Get("ETag")), http.StatusUnprocessableEntity)

			r = ops.want(t, ops.do(t, http.MethodPost, "/clients/shop-api/secret", nil), http.StatusOK)
			newSecret := r.json(t)["client_secret"].(string)
			if status, _, _ := e.postForm("/oauth2/token", "shop-api", secret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
				t.Fatalf("the old secret still works: %d", status)
			}
			e.secrets["shop-api"] = newSecret
			e.serviceToken(t, "shop-api", "openid")

			r = ops.want(t, ops.do(t, http.MethodPost, "/clients/shop-api/disable", nil), http.StatusOK)
			if r.json(t)["disabled"] != true {
				t.Fatalf("disable: %s", r.body)
			}
			if status, _, _ := e.postForm("/oauth2/token", "shop-api", newSecret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
				t.Fatalf("a disabled client got a token: %d", status)
			}
			if e.introspect(first)["active"] != false {
				t.Fatal("a disabled client's token is still active")
			}
			ops.want(t, ops.do(t, http.MethodPost, "/clients/shop-api/enable", nil), http.StatusOK)
			e.serviceToken(t, "shop-api", "openid")

			ops.want(t, ops.do(t, http.MethodDelete, "/clients/shop-api", nil, "If-Match", `"stale"`), http.StatusPreconditionFailed)
			ops.want(t, ops.do(t, http.MethodDelete, "/clients/shop-api", nil), http.StatusNoContent)
			ops.want(t, ops.do(t, http.MethodGet, "/clients/shop-api", nil), http.StatusNotFound)
			if types := e.ledgerTypes(t, "client:ops"); !slices.Contains(types, "admin.client_created") ||
				!slices.Contains(types, "admin.client_secret_rotated") || !slices.Contains(types, "admin.client_deleted") {
				t.Fatalf("ops's ledger entries: %v", types)
			}
		})

		t.Run("users: search, read, roles, disable, unlock, reset MFA, sessions, consents", func(t *testing.T) {
			for _, n := range []string{"uno", "dos", "tres"} {
				e.newUser(t, "user-"+n, "customer")
			}
			r := ops.want(t, ops.do(t, http.MethodGet, "/users?q=user-&limit=2", nil), http.StatusOK)
			next, _ := r.json(t)["next_cursor"].(string)
			if len(r.items(t)) != 2 || next == "" {
				t.Fatalf("first page: %s", r.body)
			}
			r2 := ops.want(t, ops.do(t, http.MethodGet, "/users?q=user-&limit=2&cursor="+url.QueryEscape(next), nil), http.StatusOK)
			if len(r2.items(t)) != 1 || r2.items(t)[0]["username"] != "user-uno" {
				t.Fatalf("second page: %s", r2.body)
			}
			if r := ops.want(t, ops.do(t, http.MethodGet, "/users?role=vendor&disabled=false", nil), http.StatusOK); len(r.items(t)) != 1 || r.items(t)[0]["username"] != "alice" {
				t.Fatalf("role=vendor: %s", r.body)
			}
			ops.want(t, ops.doBad(t, http.MethodGet, "/users?disabled=maybe", nil), http.StatusBadRequest)

			alice := "/users/" + e.userID
			r = ops.want(t, ops.do(t, http.MethodGet, alice, nil), http.StatusOK)
			if mfa, _ := r.json(t)["mfa"].(map[string]any); mfa == nil || r.json(t)["roles"] == nil {
				t.Fatalf("user: %s", r.body)
			}
			etag := r.header.Get("ETag")
			// A role the catalog does not define is refused as such; one
			// above the admin's own is a guard rail's refusal (recorded).
			ops.want(t, ops.do(t, http.MethodPut, alice+"/roles/support", nil, "If-Match", etag), http.StatusUnprocessableEntity)
			ops.want(t, ops.do(t, http.MethodPut, alice+"/roles/super_admin", nil, "If-Match", etag), http.StatusForbidden)
			r = ops.want(t, ops.do(t, http.MethodPut, alice+"/roles/admin", nil, "If-Match", etag), http.StatusOK)
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/roles/admin", nil, "If-Match", etag), http.StatusPreconditionFailed)
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/roles/admin", nil), http.StatusOK)
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/roles/admin", nil), http.StatusNotFound)

			token := e.aliceToken(t)
			if e.introspect(token)["active"] != true {
				t.Fatal("alice's token is not active")
			}
			r = ops.want(t, ops.do(t, http.MethodPost, alice+"/disable", nil), http.StatusOK)
			if r.json(t)["disabled"] != true || e.introspect(token)["active"] != false {
				t.Fatalf("disable: %s", r.body)
			}
			ops.want(t, ops.do(t, http.MethodPost, alice+"/enable", nil), http.StatusOK)
			ops.want(t, ops.do(t, http.MethodPost, alice+"/unlock", nil), http.StatusOK)
			ops.want(t, ops.do(t, http.MethodPost, alice+"/reset-mfa", nil), http.StatusOK)

			// An account made here has no password: the link lets its
			// owner choose one; support can send it again.
			r = ops.want(t, ops.do(t, http.MethodPost, "/users", map[string]any{"username": "vera", "email": "vera@example.co",
				"roles": []string{"vendor"}, "send_reset_link": true}), http.StatusCreated)
			vera := r.json(t)
			if vera["username"] != "vera" || !strings.HasPrefix(r.header.Get("Location"), "/admin/v1/users/") {
				t.Fatalf("create: %s", r.body)
			}
			if m, ok := e.lastMail("vera@example.co"); !ok || !strings.Contains(m.Text, "/password/reset?token=") {
				t.Fatalf("no reset link mailed to the new user: %+v", m)
			}
			ops.want(t, ops.do(t, http.MethodPost, "/users/"+vera["id"].(string)+"/reset-link", nil), http.StatusNoContent)
			ops.want(t, ops.do(t, http.MethodPost, "/users", map[string]any{"username": "vera", "email": "other@example.co"}), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodPost, "/users", map[string]any{"username": "xavier", "email": "x@example.co", "roles": []string{"no-such-role"}}), http.StatusUnprocessableEntity)
			// An admin cannot create a super_admin.
			ops.want(t, ops.do(t, http.MethodPost, "/users", map[string]any{"username": "boss", "email": "boss@example.co",
				"roles": []string{"super_admin"}}), http.StatusForbidden)
			// Erasing the account: it is gone, the ledger says who did it.
			ops.want(t, ops.do(t, http.MethodDelete, "/users/"+vera["id"].(string), nil), http.StatusNoContent)
			ops.want(t, ops.do(t, http.MethodGet, "/users/"+vera["id"].(string), nil), http.StatusNotFound)
			if types := e.ledgerTypes(t, "client:ops"); !slices.Contains(types, "admin.user_deleted") {
				t.Fatalf("the erasure is not in the ledger: %v", types)
			}

			c := e.browser()
			e.signIn(t, c, "alice")
			r = ops.want(t, ops.do(t, http.MethodGet, alice+"/sessions", nil), http.StatusOK)
			sessions := r.items(t)
			if len(sessions) == 0 {
				t.Fatal("no sessions listed")
			}
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/sessions/"+url.PathEscape(sessions[0]["id"].(string)), nil), http.StatusNoContent)
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/sessions/nope", nil), http.StatusNotFound)
			ops.want(t, ops.do(t, http.MethodDelete, alice+"/sessions", nil), http.StatusNoContent)

			r = ops.want(t, ops.do(t, http.MethodGet, alice+"/consents", nil), http.StatusOK)
			var consents struct {
				Records []map[string]any `json:"records"`
			}
			_ = json.Unmarshal(r.body, &consents)
			if len(consents.Records) == 0 || consents.Records[0]["kind"] != "consent" {
				t.Fatalf("consents: %s", r.body)
			}
			ops.want(t, ops.do(t, http.MethodGet, "/users/nobody", nil), http.StatusNotFound)
			types := e.ledgerTypes(t, "client:ops")
			for _, want := range []string{"admin.role_granted", "admin.role_revoked", "admin.user_disabled", "admin.user_enabled",
				"admin.user_unlocked", "admin.mfa_reset", "admin.session_revoked", "admin.sessions_revoked", "admin.consents_read"} {
				if !slices.Contains(types, want) {
					t.Errorf("no %s in ops's ledger entries %v", want, types)
				}
			}
		})

		t.Run("roles: only a super_admin changes the catalog", func(t *testing.T) {
			ops.want(t, ops.do(t, http.MethodGet, "/roles", nil), http.StatusOK)
			r := ops.want(t, ops.do(t, http.MethodGet, "/roles/vendor", nil), http.StatusOK)
			// An admin making vendor include super_admin would give
			// itself super_admin (admin includes vendor).
			ops.want(t, ops.do(t, http.MethodPut, "/roles/vendor", map[string]any{"includes": []string{"super_admin"}}, "If-Match", r.header.Get("ETag")), http.StatusForbidden)
			role := map[string]any{"description": "Support desk", "includes": []string{"customer"}, "permissions": []string{"tickets:read"}}
			r = root.want(t, root.do(t, http.MethodPut, "/roles/support", role), http.StatusOK)
			root.want(t, root.do(t, http.MethodPut, "/roles/support", role, "If-Match", `"stale"`), http.StatusPreconditionFailed)
			root.want(t, root.do(t, http.MethodPut, "/roles/loop", map[string]any{"includes": []string{"loop"}}), http.StatusUnprocessableEntity)
			root.want(t, root.do(t, http.MethodPut, "/roles/ghost", map[string]any{"includes": []string{"nobody"}}), http.StatusUnprocessableEntity)
			root.want(t, root.do(t, http.MethodPut, "/roles/vendor", map[string]any{"includes": []string{"admin"}}), http.StatusUnprocessableEntity)
			root.want(t, root.doBad(t, http.MethodPut, "/roles/x", map[string]any{"permissions": []string{"Not Valid"}}), http.StatusUnprocessableEntity)
			root.want(t, root.do(t, http.MethodPut, "/users/"+e.userID+"/roles/support", nil), http.StatusOK)
			root.want(t, root.do(t, http.MethodDelete, "/roles/admin", nil), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodDelete, "/roles/support", nil), http.StatusForbidden)
			root.want(t, root.do(t, http.MethodDelete, "/roles/support", nil), http.StatusConflict) // alice holds it
			root.want(t, root.do(t, http.MethodDelete, "/users/"+e.userID+"/roles/support", nil), http.StatusOK)
			r = root.want(t, root.do(t, http.MethodGet, "/roles/support", nil), http.StatusOK)
			root.want(t, root.do(t, http.MethodDelete, "/roles/support", nil, "If-Match", r.header.Get("ETag")), http.StatusNoContent)
			root.want(t, root.do(t, http.MethodGet, "/roles/support", nil), http.StatusNotFound)
		})

		t.Run("network rules: set, list, replace, remove; super_admin only", func(t *testing.T) {
			rule := map[string]any{"prefix": "203.0.113.77/24", "action": "deny", "note": "credential stuffing 2026-12-02"}
			ops.want(t, ops.do(t, http.MethodPost, "/network-rules", rule), http.StatusForbidden)
			got := root.want(t, root.do(t, http.MethodPost, "/network-rules", rule), http.StatusOK).json(t)
			if got["prefix"] != "203.0.113.0/24" || got["action"] != "deny" {
				t.Fatalf("set: %v", got)
			}
			root.want(t, root.do(t, http.MethodPost, "/network-rules", map[string]any{"prefix": "203.0.113.0/24", "action": "allow"}), http.StatusOK)
			root.want(t, root.doBad(t, http.MethodPost, "/network-rules", map[string]any{"prefix": "nowhere", "action": "deny"}), http.StatusUnprocessableEntity)
			items := ops.want(t, ops.do(t, http.MethodGet, "/network-rules", nil), http.StatusOK).items(t)
			if len(items) != 1 || items[0]["action"] != "allow" {
				t.Fatalf("list: %v", items)
			}
			ops.want(t, ops.do(t, http.MethodDelete, "/network-rules?prefix=203.0.113.0/24", nil), http.StatusForbidden)
			root.want(t, root.do(t, http.MethodDelete, "/network-rules?prefix=203.0.113.0/24", nil), http.StatusNoContent)
			root.want(t, root.do(t, http.MethodDelete, "/network-rules?prefix=203.0.113.0/24", nil), http.StatusNotFound)
		})

		t.Run("signing keys: list and rotate", func(t *testing.T) {
			before := ops.want(t, ops.do(t, http.MethodGet, "/keys", nil), http.StatusOK).items(t)
			r := ops.want(t, ops.do(t, http.MethodPost, "/keys/rotate", nil), http.StatusCreated)
			after := ops.want(t, ops.do(t, http.MethodGet, "/keys", nil), http.StatusOK).items(t)
			if len(r.items(t)) == 0 || len(after) != len(before)+len(r.items(t)) {
				t.Fatalf("rotate: %d keys before, %d new, %d after", len(before), len(r.items(t)), len(after))
			}
		})

		t.Run("data-subject requests: queue, detail (recorded), act", func(t *testing.T) {
			reqs := &identity.Requests{Store: e.store, Calendar: server.Calendar(config.Defaults()), Now: e.clock}
			d, err := reqs.File(ctx, identity.RequestActor{}, e.userID, identity.RequestKnow, "¿Qué datos tienen?")
			if err != nil {
				t.Fatal(err)
			}
			r := ops.want(t, ops.do(t, http.MethodGet, "/requests?status=open&limit=1", nil), http.StatusOK)
			if len(r.items(t)) != 1 || r.items(t)[0]["id"] != d.ID {
				t.Fatalf("queue: %s", r.body)
			}
			ops.want(t, ops.do(t, http.MethodGet, "/requests?status=bogus", nil), http.StatusBadRequest)
			ops.want(t, ops.doBad(t, http.MethodGet, "/requests?kind=bogus", nil), http.StatusBadRequest)
			r = ops.want(t, ops.do(t, http.MethodGet, "/requests/"+d.ID, nil), http.StatusOK)
			if h, _ := r.json(t)["history"].([]any); len(h) == 0 {
				t.Fatalf("detail without history: %s", r.body)
			}
			ops.want(t, ops.doBad(t, http.MethodPost, "/requests/"+d.ID+"/extend", map[string]any{}), http.StatusUnprocessableEntity)
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/extend", map[string]any{"reason": "x"}, "If-Match", `"stale"`), http.StatusPreconditionFailed)
			// The detail's ETag is the one an action's If-Match checks.
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/extend", map[string]any{"reason": "Consulta de varios sistemas"},
				"If-Match", r.header.Get("ETag")), http.StatusOK)
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/extend", map[string]any{"reason": "otra vez"}), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/dispute", map[string]any{"on": true}), http.StatusOK)
			r = ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/answer", map[string]any{"answer": "Sus datos: …"}), http.StatusOK)
			if r.json(t)["status"] != identity.RequestAnswered {
				t.Fatalf("answer: %s", r.body)
			}
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/refuse", map[string]any{"code": "x", "answer": "y"}), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodPost, "/requests/"+d.ID+"/info", map[string]any{"info_needed": "z"}), http.StatusConflict)
			ops.want(t, ops.do(t, http.MethodGet, "/requests/nope", nil), http.StatusNotFound)
			if types := e.ledgerTypes(t, "client:ops"); !slices.Contains(types, identity.RequestViewedEvent) {
				t.Fatalf("the detail read was not recorded: %v", types)
			}
		})

		t.Run("events: search by actor, type, subject, time, in pages", func(t *testing.T) {
			r := ops.want(t, ops.do(t, http.MethodGet, "/events?actor=client:reader&type=admin.denied", nil), http.StatusOK)
			if items := r.items(t); len(items) != 1 || items[0]["kind"] != "admin" {
				t.Fatalf("denied events of reader: %s", r.body)
			}
			r = ops.want(t, ops.do(t, http.MethodGet, "/events?subject="+e.userID+"&kind=admin&limit=3", nil), http.StatusOK)
			next, _ := r.json(t)["next_cursor"].(string)
			first := r.items(t)
			if len(first) != 3 || next == "" {
				t.Fatalf("first page: %s", r.body)
			}
			r = ops.want(t, ops.do(t, http.MethodGet, "/events?subject="+e.userID+"&kind=admin&limit=3&cursor="+next, nil), http.StatusOK)
			if second := r.items(t); len(second) == 0 || second[0]["seq"].(float64) >= first[2]["seq"].(float64) {
				t.Fatalf("the second page does not continue the first: %s", r.body)
			}
			future := e.clock().Add(48 * 3600e9).UTC().Format("2006-01-02T15:04:05Z")
			if r := ops.want(t, ops.do(t, http.MethodGet, "/events?since="+future, nil), http.StatusOK); len(r.items(t)) != 0 {
				t.Fatalf("since the future: %s", r.body)
			}
			ops.want(t, ops.doBad(t, http.MethodGet, "/events?since=yesterday", nil), http.StatusBadRequest)
			ops.want(t, ops.doBad(t, http.MethodGet, "/events?kind=bogus", nil), http.StatusBadRequest)
		})

		t.Run("escalation: an admin cannot touch a super_admin or a super_admin client", func(t *testing.T) {
			boss := e.newUser(t, "boss", "super_admin")
			before := e.deniedCount(t, "client:ops")
			for _, call := range []struct{ method, path string }{
				{http.MethodPut, "/users/" + e.userID + "/roles/super_admin"},
				{http.MethodPost, "/users/" + boss.ID + "/disable"},
				{http.MethodPost, "/users/" + boss.ID + "/reset-mfa"},
				{http.MethodDelete, "/users/" + boss.ID + "/roles/super_admin"},
				{http.MethodDelete, "/users/" + boss.ID + "/sessions"},
				{http.MethodPost, "/clients/root-ops/secret"},
				{http.MethodPost, "/clients/root-ops/disable"},
				{http.MethodDelete, "/clients/root-ops"},
			} {
				ops.want(t, ops.do(t, call.method, call.path, nil), http.StatusForbidden)
			}
			ops.want(t, ops.do(t, http.MethodPost, "/clients", map[string]any{"client_id": "sneaky", "grant_types": []string{"client_credentials"},
				"scopes": []string{"openid"}, "roles": []string{"super_admin"}}), http.StatusForbidden)
			if n := e.deniedCount(t, "client:ops") - before; n != 9 {
				t.Fatalf("%d refusals recorded, want 9", n)
			}
			if u, _ := e.store.UserByID(ctx, boss.ID); u.Disabled || !u.HasRole("super_admin") {
				t.Fatal("a refused action changed the super_admin")
			}
			// The last enabled super_admin stays, even for a super_admin,
			// and even by answering their deletion request: the answer is
			// refused and the request stays open.
			root.want(t, root.do(t, http.MethodPost, "/users/"+boss.ID+"/disable", nil), http.StatusConflict)
			reqs := &identity.Requests{Store: e.store, Calendar: server.Calendar(config.Defaults()), Now: e.clock}
			d, err := reqs.File(ctx, identity.RequestActor{}, boss.ID, identity.RequestDelete, "Borren mi cuenta")
			if err != nil {
				t.Fatal(err)
			}
			root.want(t, root.do(t, http.MethodPost, "/requests/"+d.ID+"/answer", map[string]any{"answer": "Hecho"}), http.StatusConflict)
			if got, err := reqs.Get(ctx, d.ID); err != nil || got.Status != identity.RequestReceived {
				t.Fatalf("after the refused erasure: %+v %v", got, err)
			}

			// Privileged clients (portero: scopes, first party, an admin
			// role) are a super_admin's to make and change: an admin could
			// otherwise phish a super_admin's admin token through one, or
			// mint an admin credential without a second factor.
			before = e.deniedCount(t, "client:ops")
			for _, body := range []map[string]any{
				{"client_id": "phish", "first_party": true, "redirect_uris": []string{"https://evil.example/cb"}, "scopes": []string{"openid"}},
				{"client_id": "phish", "redirect_uris": []string{"https://evil.example/cb"}, "scopes": []string{"openid", "portero:admin:write"}},
				{"client_id": "phish", "grant_types": []string{"client_credentials"}, "scopes": []string{"openid"}, "roles": []string{"admin"}},
			} {
				ops.want(t, ops.do(t, http.MethodPost, "/clients", body), http.StatusForbidden)
			}
			ops.want(t, ops.do(t, http.MethodPost, "/clients/mobile/disable", nil), http.StatusForbidden) // first party
			ops.want(t, ops.do(t, http.MethodPost, "/clients/ops/secret", nil), http.StatusForbidden)     // portero: scopes
			if n := e.deniedCount(t, "client:ops") - before; n != 5 {
				t.Fatalf("%d refusals recorded, want 5", n)
			}
			r := root.want(t, root.do(t, http.MethodPost, "/clients", map[string]any{"client_id": "console-2", "first_party": true,
				"public": true, "redirect_uris": []string{"https://console.example/cb"}, "scopes": []string{"openid", "portero:admin:read"}}), http.StatusCreated)
			root.want(t, root.do(t, http.MethodDelete, "/clients/console-2", nil, "If-Match", r.header.Get("ETag")), http.StatusNoContent)
		})

		t.Run("a user's token: an admin signed in with MFA may, a vendor may not", func(t *testing.T) {
			e.createClient(&identity.Client{
				ID: "console", Name: "Admin console", TokenEndpointAuthMethod: identity.AuthMethodNone,
				RedirectURIs: []string{mobileScheme}, GrantTypes: []string{"authorization_code"},
				Scopes:      []string{"openid", "portero:admin:read", "portero:admin:write"},
				TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: "RS256", FirstParty: true,
			})
			a := e.newAdmin(t, "ana")
			e.authorizeAll(a.u.ID)
			admin := &apiClient{e: e, spec: spec, token: e.consoleToken(t, a.c)}
			admin.want(t, admin.do(t, http.MethodGet, "/users/"+e.userID, nil), http.StatusOK)
			admin.want(t, admin.do(t, http.MethodPost, "/users/"+e.userID+"/unlock", nil), http.StatusOK)
			if types := e.ledgerTypes(t, identity.AdminActor(a.u.ID)); !slices.Contains(types, "admin.user_unlocked") {
				t.Fatalf("ana's actions: %v", types)
			}

			c := e.browser()
			e.signIn(t, c, "alice")
			vendor := &apiClient{e: e, spec: spec, token: e.consoleToken(t, c)}
			before := e.deniedCount(t, "user:"+e.userID)
			// IDOR: every route of the document, with real ids, answers
			// 403 to a vendor, and every attempt is on record.
			calls := 0
			for path, item := range spec.doc.Paths.Map() {
				for method, op := range item.Operations() {
					if op.Security != nil && len(*op.Security) == 0 {
						continue // the document itself
					}
					concrete := pathParam.ReplaceAllStringFunc(path, func(p string) string {
						switch {
						case strings.HasPrefix(path, "/clients"):
							return "mobile"
						case p == "{role}" || p == "{name}":
							return "vendor"
						case p == "{action}":
							return "answer"
						}
						return e.userID
					})
					var body any
					if op.RequestBody != nil {
						body = map[string]any{}
					}
					for _, p := range op.Parameters {
						if p.Value != nil && p.Value.In == "query" && p.Value.Required {
							concrete += "?" + p.Value.Name + "=203.0.113.0/24"
						}
					}
					vendor.want(t, vendor.do(t, method, concrete, body, "If-Match", "*"), http.StatusForbidden)
					calls++
				}
			}
			if n := e.deniedCount(t, "user:"+e.userID) - before; n != calls {
				t.Fatalf("%d refusals recorded for %d calls", n, calls)
			}

			// Made an admin, alice's token from a password-only sign-in
			// still does not open the API: it needs a second factor.
			if err := e.store.GrantRole(ctx, e.userID, "admin"); err != nil {
				t.Fatal(err)
			}
			r := vendor.want(t, vendor.do(t, http.MethodGet, "/users", nil), http.StatusForbidden)
			if !strings.Contains(string(r.body), "second factor") {
				t.Fatalf("password-only admin token: %s", r.body)
			}
			if err := e.store.RevokeRole(ctx, e.userID, "admin"); err != nil {
				t.Fatal(err)
			}
		})

		for _, op := range spec.operations() {
			if !spec.seen[op] {
				t.Errorf("operation %s of openapi.yaml was never exercised", op)
			}
		}
	})
}

// aliceToken returns an access token of alice's, through the browser
// flow of the mobile client.
func (e *env) aliceToken(t *testing.T) string {
	t.Helper()
	code, verifier := e.codeFor(t)
	status, body := e.exchange(code, verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// A user's token opens the admin API only within identity.FreshAuthWindow of its
// sign-in, as the admin pages: a long-lived or refreshed token is not
// weeks of admin access. Refusals are recorded up to a budget, then only
// logged, so that any customer's token cannot flood the ledger.
func TestAdminAPIFreshSignInAndRefusalBudget(t *testing.T) {
	e := newEnv(t, testdb.Backends()[0], func(c *config.Config) { c.OAuth.AccessTokenLifespan = time.Hour })
	spec := loadAdminSpec(t, e.issuer)
	e.createClient(&identity.Client{
		ID: "console", Name: "Admin console", TokenEndpointAuthMethod: identity.AuthMethodNone,
		RedirectURIs: []string{mobileScheme}, GrantTypes: []string{"authorization_code"},
		Scopes:      []string{"openid", "portero:admin:read", "portero:admin:write"},
		TokenFormat: identity.TokenFormatOpaque, IDTokenSignedResponseAlg: "RS256", FirstParty: true,
	})
	a := e.newAdmin(t, "ana")
	e.authorizeAll(a.u.ID)
	admin := &apiClient{e: e, spec: spec, token: e.consoleToken(t, a.c)}
	admin.want(t, admin.do(t, http.MethodGet, "/users", nil), http.StatusOK)
	e.advance(identity.FreshAuthWindow + time.Minute)
	r := admin.want(t, admin.do(t, http.MethodGet, "/users", nil), http.StatusForbidden)
	if !strings.Contains(string(r.body), "sign in again") {
		t.Fatalf("a stale sign-in: %s", r.body)
	}

	shopper := e.serviceClient(t, spec, "shopper", []string{"customer"}, "portero:admin:read")
	for range 105 {
		shopper.want(t, shopper.do(t, http.MethodGet, "/users/"+strings.Repeat("x", 2000), nil), http.StatusForbidden)
	}
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{Actor: "client:shopper", Limit: identity.LedgerMaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 100 {
		t.Fatalf("%d refusals recorded, want the budget of 100", len(entries))
	}
	// The record names the route, not the (long) path the caller sent.
	if !strings.Contains(string(entries[0].Payload), `"GET /admin/v1/users/{id}"`) {
		t.Fatalf("refusal payload: %s", entries[0].Payload)
	}
}
