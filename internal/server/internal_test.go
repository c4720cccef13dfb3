package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/internal/config"
)

func TestClientAddrBehindTrustedProxies(t *testing.T) {
	trusted, err := config.ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy header", "203.0.113.5:4000", nil, "203.0.113.5:4000"},
		{"untrusted peer's header is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5:4000"},
		{"one trusted proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"client-written entries left of the real one are ignored", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1:0"},
		{"a chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.0.2.7", "10.9.9.9"}, "198.51.100.1:0"},
		{"IPv6 client", "[2001:db8::1]:4000", []string{"2001:db9::42"}, "[2001:db9::42]:0"},
		{"garbage stops the walk", "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3:4000"},
		{"only proxies", "10.1.2.3:4000", []string{"10.2.2.2"}, "10.1.2.3:4000"},
	}
	for _, tc := range tests {
		var got string
		h := withClientAddr(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("%s: client %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := config.ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad range was accepted")
	}
}

func TestCalendarHasTheConfiguredExtraHolidays(t *testing.T) {
	cfg := config.Defaults()
	cfg.Secrets.System = "test-system-secret-0123456789abcdefghij"
	cfg.Legal.ExtraHolidays = []string{"2026-04-09 Festivo de prueba"}
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, time.March, 16, 10, 0, 0, 0, time.FixedZone("COT", -5*3600))
	if due := Calendar(cfg).ReclamoDue(received); due.Format(time.DateOnly) != "2026-04-10" {
		t.Fatalf("reclamo due %s, want 2026-04-10 with the extra holiday", due)
	}
	cfg.Legal.ExtraHolidays = []string{"9 de abril"}
	if err := cfg.Validate(true); err == nil || !strings.Contains(err.Error(), "legal.extra_holidays") {
		t.Fatalf("a bad holiday: %v", err)
	}
}

// TestEveryRequestHasADeadline: handlers see http.write_timeout as their
// context's deadline (a stuck database call ends with the request).
func TestEveryRequestHasADeadline(t *testing.T) {
	var left time.Duration
	h := withRequestContext(15*time.Second, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if d, ok := r.Context().Deadline(); ok {
			left = time.Until(d)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if left <= 14*time.Second || left > 15*time.Second {
		t.Fatalf("deadline %v from now, want 15s", left)
	}
}
