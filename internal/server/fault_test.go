//go:build fault

package server_test

// The fault run of docs/operations.md: real PostgreSQL and Redis on
// loopback, stopped, frozen and killed under load, two replicas on one
// database, a real process sent SIGTERM. It changes the state of the local
// servers, so it is not part of `go test ./...`: scripts/fault runs it
// alone (PostgreSQL and Redis are started again at the end of each
// scenario, whatever happens). Each scenario prints its measurements and
// fails on any answer the issue forbids.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/testdb"
)

// report collects the measurements of every scenario for
// PORTERO_FAULT_REPORT (markdown).
var report struct {
	mu   sync.Mutex
	rows []string
}

func record(scenario, measure string, value any, want string, ok bool) {
	report.mu.Lock()
	defer report.mu.Unlock()
	verdict := "pass"
	if !ok {
		verdict = "**FAIL**"
	}
	report.rows = append(report.rows, fmt.Sprintf("| %s | %s | %v | %s | %s |", scenario, measure, value, want, verdict))
}

func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("PORTERO_FAULT_REPORT"); path != "" {
		out := "| scenario | measure | value | required | |\n|---|---|---|---|---|\n" + strings.Join(report.rows, "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fault report:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// shell runs an operator command (stop, freeze, start) from the
// environment, with its default.
func shell(t *testing.T, name, def string) {
	t.Helper()
	cmdline := os.Getenv(name)
	if cmdline == "" {
		cmdline = def
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", cmdline).CombinedOutput()
	if err != nil {
		t.Fatalf("%s (%s): %v\n%s", name, cmdline, err, out)
	}
}

const (
	pgStop   = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main stop -m fast"
	pgStart  = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
	pgFreeze = "pkill -STOP -x postgres"
	pgThaw   = "pkill -CONT -x postgres"
	pgEnsure = "pg_isready -q -h 127.0.0.1 -p 5432 || " + pgStart
	rdStop   = "redis-cli -h 127.0.0.1 -p 6379 shutdown nosave || true"
	rdEnsure = "redis-cli -h 127.0.0.1 -p 6379 ping || " + rdStart
	rdStart  = `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`
)

// answer is one HTTP exchange as the load generator saw it.
type answer struct {
	status  int
	header  http.Header
	body    map[string]any
	err     error
	elapsed time.Duration
}

var loadClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func post(base, path, user, pass string, form url.Values) answer {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := loadClient.Do(req)
	if err != nil {
		return answer{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &a.body)
	a.elapsed = time.Since(start)
	return a
}

// tally counts outcomes and keeps the forbidden ones.
type tally struct {
	mu        sync.Mutex
	counts    map[string]int
	forbidden map[string]int
	maxWait   time.Duration
}

func newTally() *tally { return &tally{counts: map[string]int{}, forbidden: map[string]int{}} }

func (t *tally) add(kind string, bad bool, elapsed time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[kind]++
	if bad {
		t.forbidden[kind]++
	}
	t.maxWait = max(t.maxWait, elapsed)
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, t.counts[k]))
	}
	return strings.Join(parts, " ")
}

func (t *tally) bad() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.forbidden {
		n += v
	}
	return n
}

// classify files a token or introspection answer under what it means; bad
// marks what an outage must never produce.
func classify(endpoint string, a answer) (string, bool) {
	switch {
	case a.err != nil:
		return endpoint + " transport error", true
	case a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "" && a.body["error"] == "temporarily_unavailable":
		return endpoint + " 503", false
	case a.status == http.StatusServiceUnavailable:
		return endpoint + " 503 without Retry-After or error", true
	case a.status == http.StatusOK && endpoint == "introspect" && a.body["active"] != true:
		return "introspect false active:false", true
	case a.status == http.StatusOK:
		return endpoint + " 200", false
	case a.body["error"] == "invalid_client":
		return endpoint + " invalid_client", true
	}
	return fmt.Sprintf("%s %d %v", endpoint, a.status, a.body["error"]), true
}

// loadUntil runs workers against the replicas until stop closes; tokens
// answered 200 are appended to issued.
func loadUntil(stop <-chan struct{}, replicas []*env, valid []string, tl *tally, issued *[]string, mu *sync.Mutex) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := replicas[(w+i)%len(replicas)]
				switch i % 3 {
				case 0, 1:
					a := clientToken(e, []string{"orders-api", "reports"}[i%2])
					kind, bad := classify("token", a)
					tl.add(kind, bad, a.elapsed)
					if a.status == http.StatusOK {
						mu.Lock()
						*issued = append(*issued, a.body["access_token"].(string))
						mu.Unlock()
					}
				default:
					tok := valid[rand.IntN(len(valid))]
					a := post(e.ts.URL, "/oauth2/introspect", "orders-api", e.secrets["orders-api"], url.Values{"token": {tok}})
					kind, bad := classify("introspect", a)
					tl.add(kind, bad, a.elapsed)
				}
			}
		}()
	}
	return &wg
}

func pgReplicas(t *testing.T, tweak func(*config.Config)) (*env, *env) {
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Fatal(testdb.EnvPostgres + " is not set: the fault run needs PostgreSQL")
	}
	pg := testdb.Backend{Name: "postgres", Open: testdb.Postgres}
	a := newEnv(t, pg, tweak)
	b := a.replica(t, tweak)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.srv.FollowChanges(ctx)
	go b.srv.FollowChanges(ctx)
	return a, b
}

// clientToken asks for a client-credentials token: orders-api (JWT)
// authenticates with HTTP Basic, reports (opaque) in the form.
func clientToken(e *env, client string) answer {
	if client == "reports" {
		return post(e.ts.URL, "/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"},
			"client_id": {client}, "client_secret": {e.secrets[client]}})
	}
	return post(e.ts.URL, "/oauth2/token", client, e.secrets[client], url.Values{"grant_type": {"client_credentials"}})
}

// warm issues tokens on both replicas (which also caches the clients
// there) and returns them.
func warm(t *testing.T, replicas ...*env) []string {
	var out []string
	for _, e := range replicas {
		for range 50 {
			for _, client := range []string{"orders-api", "reports"} {
				a := clientToken(e, client)
				if a.status != http.StatusOK {
					t.Fatalf("warm-up token for %s: %d %v %v", client, a.status, a.body, a.err)
				}
				out = append(out, a.body["access_token"].(string))
			}
		}
	}
	return out
}

func waitPing(t *testing.T, e *env, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := e.store.Ping(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the database did not answer within %s", limit)
	return 0
}

func TestFault(t *testing.T) {
	t.Run("postgres stopped under load", faultPostgresDown)
	t.Run("postgres stops answering", faultPostgresFrozen)
	t.Run("two replicas follow changes", faultReplicas)
	t.Run("a revocation across a PostgreSQL restart", faultRevocationRestart)
	t.Run("concurrent refreshes across replicas", faultRefresh)
	t.Run("redis killed", faultRedisDown)
	t.Run("SIGTERM under load", faultSIGTERM)
}

func faultPostgresDown(t *testing.T) {
	const scenario = "PostgreSQL stopped 5 s under load, 2 replicas"
	// A client cache that expires during the outage: clients must still
	// authenticate from it (bounded staleness), never get invalid_client.
	a, b := pgReplicas(t, func(c *config.Config) { c.OAuth.ClientCacheTTL = time.Second })
	valid := warm(t, a, b)
	tl := newTally()
	var issued []string
	var mu sync.Mutex
	stop := make(chan struct{})
	wg := loadUntil(stop, []*env{a, b}, valid, tl, &issued, &mu)
	t.Cleanup(func() { shell(t, "PORTERO_FAULT_PG_ENSURE", pgEnsure) })

	time.Sleep(time.Second)
	shell(t, "PORTERO_FAULT_PG_STOP", pgStop)
	time.Sleep(5 * time.Second)
	shell(t, "PORTERO_FAULT_PG_START", pgStart)
	// Recovery: from PostgreSQL accepting connections to the first token
	// from each replica, without restarting them.
	started := time.Now()
	waitPing(t, a, 30*time.Second)
	for _, e := range []*env{a, b} {
		for clientToken(e, "orders-api").status != http.StatusOK && time.Since(started) < 30*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
	}
	recovery := time.Since(started)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	t.Logf("answers: %s; longest %s", tl, tl.maxWait)
	record(scenario, "answers", tl.String(), "200, or 503 + Retry-After + temporarily_unavailable", tl.bad() == 0)
	record(scenario, "false `active:false`", tl.counts["introspect false active:false"], "0", tl.counts["introspect false active:false"] == 0)
	record(scenario, "`invalid_client` from the outage", tl.counts["token invalid_client"]+tl.counts["introspect invalid_client"], "0",
		tl.counts["token invalid_client"]+tl.counts["introspect invalid_client"] == 0)
	record(scenario, "both replicas issuing again after PostgreSQL is up", recovery.Round(time.Millisecond), "without a restart", recovery < 30*time.Second)
	if tl.bad() != 0 {
		t.Errorf("forbidden answers during the outage: %v", tl.forbidden)
	}

	// Nothing acknowledged was lost.
	inactive := 0
	for _, tok := range issued {
		if a.introspect(tok)["active"] != true {
			inactive++
		}
	}
	record(scenario, "tokens answered 200 and not active afterwards", fmt.Sprintf("%d of %d", inactive, len(issued)), "0", inactive == 0)
	if inactive != 0 {
		t.Errorf("%d of %d acknowledged tokens are not active", inactive, len(issued))
	}
}

func faultPostgresFrozen(t *testing.T) {
	const scenario = "PostgreSQL frozen 4 s (SIGSTOP), write_timeout 2 s"
	a, b := pgReplicas(t, func(c *config.Config) { c.HTTP.WriteTimeout = 2 * time.Second })
	valid := warm(t, a, b)
	t.Cleanup(func() { shell(t, "PORTERO_FAULT_PG_THAW", pgThaw) })
	tl := newTally()
	var issued []string
	var mu sync.Mutex
	stop := make(chan struct{})
	shell(t, "PORTERO_FAULT_PG_FREEZE", pgFreeze)
	wg := loadUntil(stop, []*env{a, b}, valid, tl, &issued, &mu)
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	shell(t, "PORTERO_FAULT_PG_THAW", pgThaw)
	waitPing(t, a, 30*time.Second)

	t.Logf("answers: %s; longest %s", tl, tl.maxWait)
	bound := 2*time.Second + 1500*time.Millisecond
	record(scenario, "answers", tl.String(), "200, or 503 + Retry-After", tl.bad() == 0)
	record(scenario, "longest wait", tl.maxWait.Round(time.Millisecond), "< "+bound.String()+" (deadline + cancel)", tl.maxWait < bound)
	if tl.bad() != 0 || tl.maxWait >= bound {
		t.Errorf("forbidden answers %v, longest wait %s", tl.forbidden, tl.maxWait)
	}
}

func faultReplicas(t *testing.T) {
	const scenario = "2 replicas, change on A, client cache TTL 1 min"
	a, b := pgReplicas(t, func(c *config.Config) { c.OAuth.ClientCacheTTL = time.Minute })
	token := func(e *env, secret string) int {
		return post(e.ts.URL, "/oauth2/token", "orders-api", secret, url.Values{"grant_type": {"client_credentials"}}).status
	}
	old := a.secrets["orders-api"]
	if token(a, old) != http.StatusOK || token(b, old) != http.StatusOK {
		t.Fatal("orders-api cannot get a token")
	}
	actor := manage.Actor{ID: "cli:fault", Roles: []string{identity.RoleSuperAdmin}}
	// B's listener is up once a first change shows there.
	_, fresh, err := a.srv.Manage.RotateClientSecret(context.Background(), actor, "orders-api", nil)
	if err != nil {
		t.Fatal(err)
	}
	lag := func(cond func() bool) time.Duration {
		start := time.Now()
		for time.Since(start) < 10*time.Second {
			if cond() {
				return time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return -1
	}
	if lag(func() bool { return token(b, fresh) == http.StatusOK }) < 0 {
		t.Fatal("replica B never followed")
	}

	// The lag is counted from the moment the change is committed on A.
	measure := func(what string, change func(), cond func() bool) {
		change()
		d := lag(cond)
		ok := d >= 0 && d <= time.Second
		record(scenario, what, d.Round(time.Millisecond), "≤ 1 s", ok)
		if !ok {
			t.Errorf("%s: %s", what, d)
		}
	}
	var newer string
	measure("old secret refused on B", func() {
		if _, newer, err = a.srv.Manage.RotateClientSecret(context.Background(), actor, "orders-api", nil); err != nil {
			t.Fatal(err)
		}
	}, func() bool { return token(b, fresh) == http.StatusUnauthorized })
	measure("new secret accepted on B", func() {}, func() bool { return token(b, newer) == http.StatusOK })
	measure("disabled client refused on B", func() {
		if _, err := a.srv.Manage.SetClientDisabled(context.Background(), actor, "orders-api", true, nil); err != nil {
			t.Fatal(err)
		}
	}, func() bool { return token(b, newer) == http.StatusUnauthorized })
	var kids []string
	measure("rotated signing keys published on B", func() {
		keys, err := a.srv.Manage.RotateKeys(context.Background(), actor)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			kids = append(kids, k.ID)
		}
	}, func() bool {
		_, _, body := get(t, b.issuer+"/.well-known/jwks.json")
		for _, kid := range kids {
			if !strings.Contains(body, `"kid":"`+kid+`"`) {
				return false
			}
		}
		return true
	})
}

// faultRevocationRestart: a stateless token is revoked on A, and
// PostgreSQL restarts before B introspects it (B's listener dies with the
// database, so the announcement may never reach B). After the restart B
// must say inactive, and keep accepting the tokens nobody revoked.
func faultRevocationRestart(t *testing.T) {
	const scenario = "stateless token revoked on A, then PostgreSQL restarted"
	a, b := pgReplicas(t, nil)
	t.Cleanup(func() { shell(t, "PORTERO_FAULT_PG_ENSURE", pgEnsure) })
	token := func() string { return clientToken(a, "orders-api").body["access_token"].(string) }
	active := func(e *env, tok string) bool {
		a := post(e.ts.URL, "/oauth2/introspect", "orders-api", e.secrets["orders-api"], url.Values{"token": {tok}})
		return a.status == http.StatusOK && a.body["active"] == true
	}
	revoked, kept := token(), token()
	if !active(b, revoked) || !active(b, kept) {
		t.Fatal("replica B does not accept A's tokens")
	}
	if a := post(a.ts.URL, "/oauth2/revoke", "orders-api", a.secrets["orders-api"], url.Values{"token": {revoked}}); a.status != http.StatusOK {
		t.Fatalf("revoke: %d", a.status)
	}
	shell(t, "PORTERO_FAULT_PG_STOP", pgStop)
	shell(t, "PORTERO_FAULT_PG_START", pgStart)
	started := time.Now()
	waitPing(t, a, 30*time.Second)
	seen := false
	for time.Since(started) < 10*time.Second {
		if !active(b, revoked) {
			seen = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	record(scenario, "the revoked token inactive on B", time.Since(started).Round(time.Millisecond), "after the restart, within the 2 s poll", seen)
	record(scenario, "the other token still active on B", active(b, kept), "true", active(b, kept))
	if !seen || !active(b, kept) {
		t.Errorf("after the restart: revoked token inactive on B %v, other token active %v", seen, active(b, kept))
	}
}

func faultRefresh(t *testing.T) {
	for _, grace := range []time.Duration{0, 30 * time.Second} {
		scenario := fmt.Sprintf("20 concurrent refreshes of one token on 2 replicas, grace %s", grace)
		a, b := pgReplicas(t, func(c *config.Config) { c.OAuth.RefreshGracePeriod = grace })
		code, verifier := a.codeFor(t)
		_, first := a.exchange(code, verifier)
		rt := first["refresh_token"].(string)
		answers := make([]answer, 20)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				e := []*env{a, b}[i%2]
				answers[i] = post(e.ts.URL, "/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"mobile"}})
			}()
		}
		close(start)
		wg.Wait()
		pairs := map[string]bool{}
		winners, losers, other := 0, 0, 0
		for _, ans := range answers {
			switch {
			case ans.status == http.StatusOK:
				winners++
				pairs[fmt.Sprint(ans.body["access_token"], ans.body["refresh_token"])] = true
			case ans.status == http.StatusBadRequest && ans.body["error"] == "invalid_grant":
				losers++
			default:
				other++
			}
		}
		var winner answer
		for _, ans := range answers {
			if ans.status == http.StatusOK {
				winner = ans
			}
		}
		alive := winner.status == http.StatusOK && a.introspect(winner.body["refresh_token"].(string))["active"] == true
		if grace == 0 {
			ok := winners == 1 && losers == 19 && other == 0 && alive
			record(scenario, "winners / invalid_grant / other", fmt.Sprintf("%d / %d / %d", winners, losers, other), "1 / 19 / 0", ok)
			record(scenario, "winner's family still active", alive, "true", alive)
			if !ok {
				t.Errorf("grace 0: %d winners, %d invalid_grant, %d other; winner alive %v", winners, losers, other, alive)
			}
		} else {
			ok := winners == 20 && len(pairs) == 1 && alive
			record(scenario, "answers 200 / distinct token pairs", fmt.Sprintf("%d / %d", winners, len(pairs)), "20 / 1", ok)
			if !ok {
				t.Errorf("grace: %d winners with %d distinct pairs; alive %v", winners, len(pairs), alive)
			}
		}
	}
}

func faultRedisDown(t *testing.T) {
	const scenario = "Redis killed"
	redisURL := os.Getenv("PORTERO_TEST_REDIS_URL")
	if redisURL == "" {
		t.Fatal("PORTERO_TEST_REDIS_URL is not set: the fault run needs Redis")
	}
	e := newEnv(t, testdb.Backend{Name: "sqlite", Open: testdb.SQLite}, func(c *config.Config) { c.Redis.URL = redisURL })
	t.Cleanup(func() { shell(t, "PORTERO_FAULT_REDIS_ENSURE", rdEnsure) })
	ready := func() int { status, _, _ := get(t, e.ts.URL+"/health/ready"); return status }
	if ready() != http.StatusOK {
		t.Fatal("not ready before the fault")
	}
	shell(t, "PORTERO_FAULT_REDIS_STOP", rdStop)

	readyStatus := ready()
	_, challenge := pkcePair()
	start := time.Now()
	resp := e.login(e.browser(), e.authURL(challenge), "alice", testPassword)
	resp.Body.Close()
	signIn := time.Since(start)
	tokenStatus := post(e.ts.URL, "/oauth2/token", "orders-api", e.secrets["orders-api"], url.Values{"grant_type": {"client_credentials"}}).status

	shell(t, "PORTERO_FAULT_REDIS_START", rdStart)
	back := time.Now()
	for ready() != http.StatusOK && time.Since(back) < 10*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Since(back)

	okReady := readyStatus == http.StatusServiceUnavailable
	okSignIn := resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
	record(scenario, "readiness", readyStatus, "503", okReady)
	record(scenario, "sign-in answer", fmt.Sprintf("%d Retry-After %q in %s", resp.StatusCode, resp.Header.Get("Retry-After"), signIn.Round(time.Millisecond)),
		"503 + Retry-After (fails closed, never a bare 500)", okSignIn)
	record(scenario, "client credentials (no Redis needed)", tokenStatus, "200", tokenStatus == http.StatusOK)
	record(scenario, "ready again after Redis restarts", recovered.Round(time.Millisecond), "without a restart of Portero", ready() == http.StatusOK)
	if !okReady || !okSignIn || tokenStatus != http.StatusOK {
		t.Errorf("readiness %d, sign-in %d %q, token %d", readyStatus, resp.StatusCode, resp.Header.Get("Retry-After"), tokenStatus)
	}
}

// faultSIGTERM runs the real binary (PORTERO_FAULT_BINARY), loads it over
// keep-alive connections behind an emulated load balancer (it stops
// sending once readiness fails, polling every 100 ms as a balancer's
// health check would), and sends SIGTERM.
func faultSIGTERM(t *testing.T) {
	bin := os.Getenv("PORTERO_FAULT_BINARY")
	if bin == "" {
		t.Fatal("PORTERO_FAULT_BINARY is not set (scripts/fault builds it)")
	}
	for _, drain := range []string{"0s", "2s"} {
		scenario := "SIGTERM under load, drain_period " + drain
		failed, sent := sigtermRun(t, bin, drain)
		if drain == "0s" {
			// The comparison: without a drain window the balancer learns
			// of the shutdown only from failed requests.
			record(scenario, "failed requests", fmt.Sprintf("%d of %d", failed, sent), "(for comparison)", true)
			continue
		}
		record(scenario, "failed requests", fmt.Sprintf("%d of %d", failed, sent), "0", failed == 0)
		if failed != 0 {
			t.Errorf("drain %s: %d of %d requests failed", drain, failed, sent)
		}
	}
}

func sigtermRun(t *testing.T, bin, drain string) (failed, sent int64) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	env := append(os.Environ(), "PORTERO_DATABASE_SQLITE_PATH="+filepath.Join(dir, "portero.db"), "PORTERO_LOG_LEVEL=error",
		"PORTERO_HTTP_ADDRESS="+addr, "PORTERO_ISSUER=http://localhost:"+port, "PORTERO_HTTP_DRAIN_PERIOD="+drain,
		"PORTERO_DATABASE_URL=", "PORTERO_REDIS_URL=",
		// The load is one client from one address, far above its budget:
		// this scenario measures the drain, not the limits.
		"PORTERO_RATE_LIMITS_ENABLED=false")
	run := func(args ...string) []byte {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("portero %v: %v", args, err)
		}
		return out
	}
	run("migrate")
	var created struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(run("--json", "clients", "create", "--id", "load", "--grant-types", "client_credentials", "--scopes", "openid"), &created); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "serve", "--dev")
	srv.Env = env
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	base := "http://" + addr
	ready := func() bool {
		resp, err := http.Get(base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for start := time.Now(); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the server did not become ready")
		}
	}

	var inRotation atomic.Bool
	inRotation.Store(true)
	stop := make(chan struct{})
	go func() { // the balancer's health check
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if !ready() {
					inRotation.Store(false)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for inRotation.Load() {
				atomic.AddInt64(&sent, 1)
				a := post(base, "/oauth2/token", "load", created.Secret, url.Values{"grant_type": {"client_credentials"}})
				if a.err != nil || a.status != http.StatusOK {
					atomic.AddInt64(&failed, 1)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(stop)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = srv.Process.Kill()
		t.Fatal("serve did not exit after SIGTERM")
	}
	t.Logf("drain %s: %d of %d requests failed", drain, failed, sent)
	return failed, sent
}
