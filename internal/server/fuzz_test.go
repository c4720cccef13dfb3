package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portero-id/portero/internal/testdb"
)

// FuzzBackChannel posts arbitrary bodies to the token, introspection and
// revocation endpoints: whatever arrives, the answer is a JSON object in
// RFC 6749 form (or the empty 200 of RFC 7009), never a 5xx. Its seed
// corpus runs with every `go test`.
func FuzzBackChannel(f *testing.F) {
	e := newEnv(f, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, nil)
	seeds := []string{
		"grant_type=client_credentials",
		"grant_type=client_credentials&scope=orders:read",
		"grant_type=authorization_code&code=portero_ac_x.y&redirect_uri=com.example.mobile:/cb&code_verifier=abc",
		"grant_type=refresh_token&refresh_token=portero_rt_a.b",
		"grant_type=refresh_token&refresh_token=",
		"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c",
		"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.e30.e30&grant_type=client_credentials",
		"token=eyJhbGciOiJFUzI1NiJ9.e30.sig&token_type_hint=access_token",
		"token=portero_at_abc.def&token_type_hint=refresh_token",
		"token=&token=&token_type_hint=%00",
		"%zz=%%%&&=",
		"grant_type=client_credentials&client_id=orders-api&client_secret=x",
		strings.Repeat("a=b&", 1000),
	}
	for _, s := range seeds {
		for _, path := range []uint8{0, 1, 2} {
			f.Add(path, s, true)
			f.Add(path, s, false)
		}
	}
	paths := []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"}
	f.Fuzz(func(t *testing.T, which uint8, body string, auth bool) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth("orders-api", e.secrets["orders-api"])
		}
		rec := httptest.NewRecorder()
		e.srv.Handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s answered %d to %q: %s", path, rec.Code, body, rec.Body.String())
		}
		if path == "/oauth2/revoke" && rec.Code == http.StatusOK && rec.Body.Len() == 0 {
			return
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s answered %d with non-JSON %q", path, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			if _, ok := v["error"].(string); !ok {
				t.Fatalf("%s error without an error code: %s", path, rec.Body.String())
			}
		}
	})
}
