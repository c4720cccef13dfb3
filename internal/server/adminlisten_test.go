package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/testdb"
)

// With http.admin_address the admin API is only on its own listener: the
// public handler does not route /admin/v1 at all.
func TestAdminAPIOnItsOwnAddress(t *testing.T) {
	e := newEnv(t, testdb.Backends()[0], func(c *config.Config) { c.HTTP.AdminAddress = "127.0.0.1:0" })
	if e.srv.AdminHandler == nil {
		t.Fatal("no admin handler with http.admin_address set")
	}
	for _, tc := range []struct {
		name    string
		handler http.Handler
		want    int
	}{
		{"public listener", e.srv.Handler, http.StatusNotFound},
		{"admin listener", e.srv.AdminHandler, http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		tc.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/openapi.yaml", nil))
		if rec.Code != tc.want {
			t.Errorf("%s: GET /admin/v1/openapi.yaml = %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	e.srv.AdminHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/users", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("admin listener without a token: %d, want 401", rec.Code)
	}
	// Without the option the API is on the public handler.
	plain := newEnv(t, testdb.Backends()[0], nil)
	if plain.srv.AdminHandler != nil {
		t.Fatal("an admin handler without http.admin_address")
	}
}
