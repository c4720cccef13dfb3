package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/pow"
	"github.com/portero-id/portero/internal/ratelimit"
)

// Credential stuffing is many accounts failing from one network: each
// account's own lockout stays below its threshold. StuffingWatch spends a
// network's budget of failed sign-ins (Failures, shared through Redis
// when configured); a failure past it marks the network for SuspectFor,
// during which its sign-in form asks for a proof of work (internal/pow):
// a second for a person, a real cost for every guess of a bot.
type StuffingWatch struct {
	Failures   *ratelimit.Meter // class "stuffing-network"
	PoW        *pow.Issuer
	SuspectFor time.Duration
	Now        func() time.Time

	mu       sync.Mutex
	suspects map[string]time.Time // network → until
}

// network is the address's IPv4 /24 or IPv6 /48.
func network(r *http.Request) string { return identity.DeviceOf(clientIP(r), "").Network }

// suspect reports whether the request's network must prove work.
func (w *StuffingWatch) suspect(r *http.Request) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	until, ok := w.suspects[network(r)]
	return ok && w.Now().Before(until)
}

// failed spends the network's budget with one failed sign-in; it reports
// whether this failure made the network a suspect (it was not one).
func (w *StuffingWatch) failed(ctx context.Context, r *http.Request) bool {
	if w == nil {
		return false
	}
	net := network(r)
	if w.Failures.Allow(ctx, http.Header{}, net) {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.suspects == nil {
		w.suspects = map[string]time.Time{}
	}
	now := w.Now()
	for n, until := range w.suspects {
		if now.After(until) {
			delete(w.suspects, n)
		}
	}
	_, already := w.suspects[net]
	w.suspects[net] = now.Add(w.SuspectFor)
	return !already
}

// challenge is a new challenge for the form, "" when none is needed.
func (w *StuffingWatch) challenge(r *http.Request) string {
	if !w.suspect(r) {
		return ""
	}
	return w.PoW.Issue()
}

// proved reports whether the form carries a solved challenge (or needs
// none).
func (w *StuffingWatch) proved(r *http.Request) bool {
	if !w.suspect(r) {
		return true
	}
	return w.PoW.Verify(r.PostForm.Get("pow_challenge"), r.PostForm.Get("pow_nonce")) == nil
}
