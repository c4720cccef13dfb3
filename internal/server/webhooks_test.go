package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/testdb"
)

// TestWebhooksSurviveADownReceiver: events recorded while the receiver
// is down all arrive once it is back, in ledger order, each verified with
// the Standard Webhooks reference verifier under either configured secret
// (rotation), with webhook-id as the idempotency key.
func TestWebhooksSurviveADownReceiver(t *testing.T) {
	secret := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	}
	current, previous := secret(), secret()
	var (
		up       atomic.Bool
		mu       sync.Mutex
		received = map[string]map[string]any{} // by webhook-id
		order    []int64
		refused  atomic.Int64
	)
	verifier, _ := standardwebhooks.NewWebhook(previous) // a receiver not yet moved to the new secret
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			refused.Add(1)
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(body, r.Header); err != nil {
			t.Errorf("signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		if _, dup := received[id]; !dup {
			order = append(order, int64(ev["data"].(map[string]any)["seq"].(float64)))
		}
		received[id] = ev
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	st := testdb.SQLite(t)
	e := newServer(t, st, func(c *config.Config) {
		c.Webhooks.URL = receiver.URL
		c.Secrets.Webhooks = []string{current, previous}
	}, extras{opts: []server.Option{server.WithWebhookTiming(20*time.Millisecond, 200*time.Millisecond)}})
	e.seed()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.srv.DeliverWebhooks(ctx)

	// While the receiver is down: sign-ins (and failed ones) are recorded.
	for range 3 {
		_, challenge := pkcePair()
		e.authorize(e.browser(), e.authURL(challenge))
	}
	e.login(e.browser(), e.authURL(func() url.Values { _, c := pkcePair(); return c }()), "alice", "wrong password").Body.Close()
	time.Sleep(300 * time.Millisecond)
	if refused.Load() == 0 {
		t.Fatal("nothing was attempted while the receiver was down")
	}
	last, err := st.LedgerEntries(ctx, identity.LedgerFilter{Newest: true, Limit: 1})
	if err != nil || len(last) != 1 {
		t.Fatal(err)
	}
	up.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := len(order) > 0 && order[len(order)-1] >= last[0].Seq
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every event arrived after the receiver came back: %v (ledger at %d)", order, last[0].Seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("events out of order: %v", order)
		}
	}
	types := map[string]int{}
	for _, ev := range received {
		types[ev["type"].(string)]++
	}
	if types[identity.AuditLoginSuccess] < 3 || types[identity.AuditLoginFailure] < 1 {
		t.Fatalf("delivered types: %v", types)
	}
}
