// Package webhooks delivers the ledger to a receiver (a SIEM) as Standard
// Webhooks (https://www.standardwebhooks.com): every entry — sign-ins,
// lockouts, refresh-token reuse, consents, data-subject requests, admin
// actions — in ledger order, at least once, signed with every configured
// secret. The ledger is the transactional outbox: an entry is appended in
// the transaction of the change it records, and each receiver's cursor
// (the last sequence number it acknowledged) only moves forward after a
// 2xx. A receiver that is down gets everything once it is back; webhook-id
// ("ledger-<seq>") is the idempotency key for the duplicates that
// at-least-once delivery allows. One replica at a time delivers (a lease
// on the cursor).
package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portero-id/portero/identity"
)

// Store is what delivery reads and moves: the ledger and the cursors.
type Store interface {
	LedgerEntries(ctx context.Context, f identity.LedgerFilter) ([]identity.LedgerEntry, error)
	identity.WebhookCursorStore
}

// Dispatcher delivers the ledger to one receiver.
type Dispatcher struct {
	URL   string
	Kinds []string // ledger kinds to deliver; empty: all
	Store Store
	// Owner names this replica for the cursor's lease.
	Owner  string
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
	// Poll is how often the ledger is read when there is nothing to
	// send; MaxBackoff caps the wait after failed deliveries, which
	// doubles from Poll.
	Poll, MaxBackoff time.Duration
	// OnResult, when set, hears of every delivery: "ok" or "failed".
	OnResult func(result string)

	signers []*standardwebhooks.Webhook
}

// New builds a dispatcher; secrets are "whsec_" secrets, current first.
func New(url string, secrets []string) (*Dispatcher, error) {
	d := &Dispatcher{URL: url, Now: time.Now, Poll: time.Second, MaxBackoff: time.Minute, Log: slog.New(slog.DiscardHandler),
		Client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for _, s := range secrets {
		w, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhooks: secret: %w", err)
		}
		d.signers = append(d.signers, w)
	}
	if len(d.signers) == 0 {
		return nil, fmt.Errorf("webhooks: no secret")
	}
	return d, nil
}

// leaseFor is how long a replica keeps the cursor without renewing it: a
// replica that dies hands over after this.
const leaseFor = 30 * time.Second

// cursorName ties the cursor to the receiver: another URL starts afresh.
func (d *Dispatcher) cursorName() string {
	sum := sha256.Sum256([]byte(d.URL))
	return "url:" + hex.EncodeToString(sum[:8])
}

// Run delivers until ctx ends: at once while entries are pending, every
// Poll when there are none, and after a failure with a wait that doubles
// up to MaxBackoff.
func (d *Dispatcher) Run(ctx context.Context) {
	wait := d.Poll
	for {
		sent, err := d.DeliverPending(ctx)
		switch {
		case err != nil:
			wait = min(max(2*wait, d.Poll), d.MaxBackoff)
			d.Log.WarnContext(ctx, "webhook delivery failed; retrying", "err", err, "retry_in", wait.String())
		case sent > 0:
			wait = 0 // there may be more
		default:
			wait = d.Poll
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// DeliverPending sends the entries after the cursor, in order, and moves
// the cursor past each one the receiver acknowledged (or that is not of a
// delivered kind). It stops at the first failure, which it returns; it
// sends nothing when another replica holds the lease.
func (d *Dispatcher) DeliverPending(ctx context.Context) (sent int, err error) {
	name := d.cursorName()
	now := d.Now()
	delivered, ok, err := d.Store.LeaseWebhookCursor(ctx, name, d.Owner, now, now.Add(leaseFor))
	if err != nil || !ok {
		return 0, err
	}
	entries, err := d.Store.LedgerEntries(ctx, identity.LedgerFilter{AfterSeq: delivered, Limit: identity.LedgerMaxLimit})
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if len(d.Kinds) == 0 || slices.Contains(d.Kinds, e.Kind) {
			if err := d.send(ctx, &e); err != nil {
				d.result("failed")
				return sent, err
			}
			d.result("ok")
			sent++
		}
		if err := d.Store.AdvanceWebhookCursor(ctx, name, d.Owner, e.Seq); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func (d *Dispatcher) result(r string) {
	if d.OnResult != nil {
		d.OnResult(r)
	}
}

// event is the delivered body: Standard Webhooks' recommended envelope.
type event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      entry     `json:"data"`
}

// entry is a ledger entry as a receiver sees it; with prev_hash and hash
// it can check the chain itself.
type entry struct {
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	Subject   string          `json:"subject,omitempty"`
	Actor     string          `json:"actor,omitempty"`
	ClientID  string          `json:"client_id,omitempty"`
	IP        string          `json:"ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	Locale    string          `json:"locale,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// ID is the webhook-id of a ledger entry: stable, so a receiver can drop
// a duplicate.
func ID(seq int64) string { return "ledger-" + strconv.FormatInt(seq, 10) }

func (d *Dispatcher) send(ctx context.Context, e *identity.LedgerEntry) error {
	body, err := json.Marshal(event{Type: e.Type, Timestamp: e.OccurredAt.UTC(), Data: entry{
		Seq: e.Seq, Kind: e.Kind, Subject: e.Subject, Actor: e.Actor, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent,
		Locale: e.Locale, Payload: json.RawMessage(e.Payload), PrevHash: e.PrevHash, Hash: e.Hash}})
	if err != nil {
		return err
	}
	id, ts := ID(e.Seq), d.Now()
	var sigs []string
	for _, w := range d.signers {
		sig, err := w.Sign(id, ts, body)
		if err != nil {
			return err
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	resp, err := d.Client.Do(req)
	if err != nil {
		// Not the *url.Error itself: its text carries the URL, whose query
		// may hold the receiver's token, and this error is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("deliver %s: the receiver answered %d", id, resp.StatusCode)
	}
	return nil
}
