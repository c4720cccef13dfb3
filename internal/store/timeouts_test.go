package store

import (
	"net/url"
	"testing"
)

func TestPostgresURLGetsTimeouts(t *testing.T) {
	got, err := withTimeouts("postgres://u:p@db:5432/portero?sslmode=verify-full&statement_timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	q := u.Query()
	if q.Get("connect_timeout") != "5" || q.Get("statement_timeout") != "5s" || q.Get("idle_in_transaction_session_timeout") != "30s" ||
		q.Get("sslmode") != "verify-full" || u.User.String() != "u:p" || u.Host != "db:5432" || u.Path != "/portero" {
		t.Fatalf("withTimeouts = %s", got)
	}
}
