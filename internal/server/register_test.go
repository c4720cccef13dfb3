package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/manage"
)

const registrationToken = "initial-access-token-0123456789abcdef"

func (e *env) registerCall(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, e.issuer+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestDynamicClientRegistration: RFC 7591 behind an initial access token,
// RFC 7592 read, update and delete with the registration access token;
// off by default.
func TestDynamicClientRegistration(t *testing.T) {
	off := newEnv(t, sqlite(), nil)
	if status, _ := off.registerCall(t, http.MethodPost, "/oauth2/register", registrationToken, map[string]any{}); status != http.StatusNotFound {
		t.Fatalf("registration is off by default: %d", status)
	}

	e := newEnv(t, sqlite(), func(c *config.Config) { c.Secrets.ClientRegistration = registrationToken })
	_, disc := e.registerCall(t, http.MethodGet, "/.well-known/openid-configuration", "", nil)
	if disc["registration_endpoint"] != e.issuer+"/oauth2/register" {
		t.Fatalf("discovery: %v", disc["registration_endpoint"])
	}
	meta := map[string]any{"client_name": "Partner", "grant_types": []string{"client_credentials"}, "scope": "openid"}
	if status, _ := e.registerCall(t, http.MethodPost, "/oauth2/register", "wrong-token", meta); status != http.StatusUnauthorized {
		t.Fatalf("wrong initial token: %d", status)
	}
	status, reg := e.registerCall(t, http.MethodPost, "/oauth2/register", registrationToken, meta)
	if status != http.StatusCreated || reg["client_secret"] == nil || reg["registration_access_token"] == nil ||
		!strings.HasPrefix(reg["client_id"].(string), "dyn-") {
		t.Fatalf("register: %d %v", status, reg)
	}
	id, secret, regToken := reg["client_id"].(string), reg["client_secret"].(string), reg["registration_access_token"].(string)
	// The new client works.
	status, _, tok := e.postForm("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}})
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("token for the registered client: %d %v", status, tok)
	}
	// It reads itself, not with another token, and no secret comes back.
	path := strings.TrimPrefix(reg["registration_client_uri"].(string), e.issuer)
	if status, got := e.registerCall(t, http.MethodGet, path, regToken, nil); status != http.StatusOK || got["client_id"] != id || got["client_secret"] != nil {
		t.Fatalf("read: %d %v", status, got)
	}
	if status, _ := e.registerCall(t, http.MethodGet, path, registrationToken, nil); status != http.StatusUnauthorized {
		t.Fatalf("read with the initial token: %d", status)
	}
	// Bad metadata gets the RFC 7591 errors.
	for _, tc := range []struct {
		meta map[string]any
		code string
	}{
		{map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}, "invalid_redirect_uri"},
		{map[string]any{"redirect_uris": []string{"https://partner.example/cb"}, "response_types": []string{"token"}}, "invalid_client_metadata"},
		{map[string]any{"grant_types": []string{"client_credentials"}, "response_types": []string{"code"}}, "invalid_client_metadata"},
		{map[string]any{"grant_types": []string{"password"}}, "invalid_client_metadata"},
		{map[string]any{"grant_types": []string{"client_credentials"}, "scope": "portero:everything"}, "invalid_client_metadata"},
		{map[string]any{"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		{map[string]any{"grant_types": []string{"client_credentials"}, "backchannel_logout_uri": "http://127.0.0.1:6379/"}, "invalid_client_metadata"},
		{map[string]any{"redirect_uris": []string{"https://partner.example/cb"}, "scope": "openid portero:admin:write"}, "invalid_client_metadata"},
	} {
		if status, got := e.registerCall(t, http.MethodPost, "/oauth2/register", registrationToken, tc.meta); status != http.StatusBadRequest || got["error"] != tc.code {
			t.Errorf("%v: %d %v", tc.meta, status, got)
		}
	}
	// Update (RFC 7592 §2.2): the whole metadata, the client's own id;
	// the secret and the registration token stay.
	update := map[string]any{"client_id": id, "client_name": "Partner 2", "grant_types": []string{"client_credentials"},
		"scope": "openid", "token_endpoint_auth_method": "client_secret_basic"}
	if status, got := e.registerCall(t, http.MethodPut, path, regToken, update); status != http.StatusOK || got["client_name"] != "Partner 2" || got["client_secret"] != nil {
		t.Fatalf("update: %d %v", status, got)
	}
	if status, _, _ := e.postForm("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}); status != http.StatusOK {
		t.Fatalf("token after the update: %d", status)
	}
	for _, bad := range []map[string]any{
		{"client_id": "someone-else", "grant_types": []string{"client_credentials"}},
		{"client_id": id, "grant_types": []string{"client_credentials"}, "client_secret": "not-the-secret"},
		{"client_id": id, "grant_types": []string{"client_credentials"}, "registration_access_token": regToken},
		{"client_id": id, "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"},
		{"client_id": id, "grant_types": []string{"client_credentials"}, "scope": "portero:admin:read"},
	} {
		if status, got := e.registerCall(t, http.MethodPut, path, regToken, bad); status != http.StatusBadRequest || got["error"] != "invalid_client_metadata" {
			t.Errorf("update %v: %d %v", bad, status, got)
		}
	}
	if status, _ := e.registerCall(t, http.MethodPut, path, registrationToken, update); status != http.StatusUnauthorized {
		t.Fatalf("update with the initial token: %d", status)
	}
	// A client edits another client: the other's registration token
	// opens nothing here.
	_, other := e.registerCall(t, http.MethodPost, "/oauth2/register", registrationToken, meta)
	otherToken := other["registration_access_token"].(string)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if status, _ := e.registerCall(t, method, path, otherToken, update); status != http.StatusUnauthorized {
			t.Errorf("%s with another client's registration token: %d", method, status)
		}
	}
	// Once an administrator gives the client privileges, or disables it,
	// the registration token no longer changes it.
	stored, err := e.store.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	prev := stored.UpdatedAt
	stored.FirstParty, stored.UpdatedAt = true, prev.Add(time.Second)
	if err := e.store.UpdateClient(context.Background(), stored, prev); err != nil {
		t.Fatal(err)
	}
	if status, got := e.registerCall(t, http.MethodPut, path, regToken, update); status != http.StatusBadRequest || got["error"] != "invalid_client_metadata" {
		t.Fatalf("update of a first-party client: %d %v", status, got)
	}
	prev = stored.UpdatedAt
	stored.FirstParty, stored.Disabled, stored.UpdatedAt = false, true, prev.Add(time.Second)
	if err := e.store.UpdateClient(context.Background(), stored, prev); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.registerCall(t, http.MethodGet, path, regToken, nil); status != http.StatusUnauthorized {
		t.Fatalf("read of a disabled client: %d", status)
	}
	prev = stored.UpdatedAt
	stored.Disabled, stored.UpdatedAt = false, prev.Add(time.Second)
	if err := e.store.UpdateClient(context.Background(), stored, prev); err != nil {
		t.Fatal(err)
	}
	// Delete: the client is gone.
	if status, _ := e.registerCall(t, http.MethodDelete, path, regToken, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if status, _, _ := e.postForm("/oauth2/token", id, secret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
		t.Fatalf("token after deletion: %d", status)
	}
	// Every change the registrant made is in the ledger, by the client.
	entries, err := e.store.LedgerEntries(context.Background(), identity.LedgerFilter{ClientID: id, Kind: identity.LedgerAdmin, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, en := range entries {
		if en.Actor == manage.ClientActor(id) {
			types = append(types, en.Type)
		}
	}
	if !slices.Contains(types, manage.EventClientRegistered) || !slices.Contains(types, manage.EventRegistrationUpdate) ||
		!slices.Contains(types, manage.EventRegistrationDelete) {
		t.Fatalf("ledger of the registration: %v", types)
	}
}
