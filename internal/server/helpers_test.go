package server_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

func decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func clientCredentialsConfig(e *env, id string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: e.secrets[id], TokenURL: e.issuer + "/oauth2/token"}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
