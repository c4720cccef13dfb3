package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/pow"
	"github.com/portero-id/portero/internal/testdb"
)

// TestCredentialStuffingRaisesTheCost: failed sign-ins for many accounts
// from many addresses of one /24 (each address and each account below its
// own throttle) mark the network; its sign-in form then asks for a proof
// of work, a guess without it is not checked, and a person with it signs
// in. A user on another network never sees the challenge.
func TestCredentialStuffingRaisesTheCost(t *testing.T) {
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
		c.RateLimits = config.Defaults().RateLimits
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	login := func(from, username, password string, extra url.Values) (int, string) {
		form := url.Values{"username": {username}, "password": {password}}
		for k, v := range extra {
			form[k] = v
		}
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := e.browser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	challengeOf := func(page string) string {
		m := regexp.MustCompile(`name="pow_challenge" id="pow-challenge" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			return ""
		}
		return m[1]
	}
	for i := 1; i <= 25; i++ {
		status, _ := login(fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("victim%d", i), "Winter2026!", nil)
		if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	events, err := e.store.LedgerEntries(t.Context(), identity.LedgerFilter{Types: []string{identity.AuditStuffingSuspected}, Limit: 10})
	if err != nil || len(events) != 1 || !strings.Contains(string(events[0].Payload), "198.51.100.0/24") {
		t.Fatalf("stuffing events: %+v %v", events, err)
	}
	// The network now gets a challenge; a guess without the work is not
	// even checked, whatever the password.
	status, page := login("198.51.100.200", "alice", testPassword, nil)
	if status != http.StatusTooManyRequests || challengeOf(page) == "" || !strings.Contains(page, "/static/pow.js") {
		t.Fatalf("without work: %d, challenge %q", status, challengeOf(page))
	}
	// With it, the right password signs in.
	c := challengeOf(page)
	status, _ = login("198.51.100.200", "alice", testPassword, url.Values{"pow_challenge": {c}, "pow_nonce": {pow.Solve(c, 16)}})
	if status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("with the work: %d", status)
	}
	// A solution is good once.
	if status, _ := login("198.51.100.200", "alice", testPassword, url.Values{"pow_challenge": {c}, "pow_nonce": {pow.Solve(c, 16)}}); status != http.StatusTooManyRequests {
		t.Fatalf("a replayed solution: %d", status)
	}
	// Another network is untouched.
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if challengeOf(string(body)) != "" {
		t.Fatal("a user on another network got a challenge")
	}
	if status, _ := login("203.0.113.9", "alice", testPassword, nil); status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("a user on another network: %d", status)
	}
}

// TestStuffingSimulation is the simulation: 1,000 usernames × 3
// passwords from one /24 (addresses rotating, so no address and no
// account reaches its own throttle). The network is marked within its
// first 21 failures, and from then on no guess is checked without a proof
// of work; a user on another network signs in throughout.
func TestStuffingSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 sign-in attempts")
	}
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) {
		c.RateLimits = config.Defaults().RateLimits
		c.RateLimits.PagesPerAddress.Requests = 0 // measure the stuffing defence, not the page budget
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(from, username, password string) int {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login",
			strings.NewReader(url.Values{"username": {username}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := time.Now()
	checked, refused, detectedAt := 0, 0, 0
	for i := range 3000 {
		status := post(fmt.Sprintf("198.51.100.%d", 1+i%250), fmt.Sprintf("user%04d", i%1000), []string{"Winter2026!", "Password1!", "Colombia2026"}[i/1000])
		switch status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
			if detectedAt == 0 {
				detectedAt = i + 1
			}
		default:
			t.Fatalf("guess %d: %d", i, status)
		}
		if i%500 == 0 {
			// A user on another network is unaffected throughout.
			if s := post("203.0.113.9", "alice", testPassword); s != http.StatusSeeOther && s != http.StatusFound {
				t.Fatalf("the other network's user at guess %d: %d", i, s)
			}
		}
	}
	elapsed := time.Since(start)
	t.Logf("3,000 guesses in %s: %d checked before detection (at guess %d), %d refused without being checked", elapsed.Round(time.Millisecond), checked, detectedAt, refused)
	if checked > 21 || detectedAt == 0 || detectedAt > 22 || elapsed > time.Minute {
		t.Fatalf("checked %d guesses, detected at guess %d, in %s", checked, detectedAt, elapsed)
	}
}
