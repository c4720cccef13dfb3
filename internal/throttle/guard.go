package throttle

import (
	"context"
	"errors"
	"time"
)

// Guard combines a per-account and a per-IP counter for sign-in.
//
// The account counter (key "a:"+account) stops guessing one account's
// password from many addresses; the IP counter (key "ip:"+ip) stops one
// address spraying guesses over many accounts. Pass the account name in a
// canonical form (e.g. the lower-cased e-mail address the login resolves
// to), or an attacker gets fresh counters by varying its spelling. An empty
// ip skips the IP counter (e.g. when the client address is unknown).
//
// On an error from the Store the returned Decision is the zero Decision
// (not allowed); whether to fail open or closed is the caller's choice.
type Guard struct {
	Store   Store
	Account Policy
	IP      Policy
	Now     func() time.Time // nil: time.Now
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func accountKey(account string) string { return "a:" + account }
func ipKey(ip string) string           { return "ip:" + ip }

var errNoStore = errors.New("throttle: Guard has no Store")

// Check reports whether a sign-in attempt may proceed now. It denies if
// either counter denies; RetryAfter is the longer wait and Locked is set if
// either counter is locked out.
func (g *Guard) Check(ctx context.Context, account, ip string) (Decision, error) {
	if g.Store == nil {
		return Decision{}, errNoStore
	}
	return g.both(ctx, account, ip, g.Store.Check)
}

// Fail records a failed sign-in on both counters and returns the combined
// decision; JustLocked is set if either counter was locked by this failure.
// Both counters are updated even if one of them returns an error.
func (g *Guard) Fail(ctx context.Context, account, ip string) (Decision, error) {
	if g.Store == nil {
		return Decision{}, errNoStore
	}
	return g.both(ctx, account, ip, g.Store.Fail)
}

// Success forgets the account's failures after a successful sign-in. The IP
// counter is deliberately left alone: an attacker spraying guesses from one
// address could otherwise reset that address's counter by signing in to an
// account of their own between guesses, laundering the spray. The IP
// counter only ever decays through its Window and lockout expiry. ip is
// accepted for symmetry and future use.
func (g *Guard) Success(ctx context.Context, account, ip string) error {
	if g.Store == nil {
		return errNoStore
	}
	return g.Store.Reset(ctx, accountKey(account))
}

// Unlock forgets the failures of the given accounts (an administrator
// lifting a lockout). The IP counters stay, as with Success.
func (g *Guard) Unlock(ctx context.Context, accounts ...string) error {
	if g.Store == nil {
		return errNoStore
	}
	var errs []error
	for _, a := range accounts {
		errs = append(errs, g.Store.Reset(ctx, accountKey(a)))
	}
	return errors.Join(errs...)
}

type storeOp func(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)

// both runs op on the account and (unless ip is empty) the IP counter at
// one instant and merges the decisions.
func (g *Guard) both(ctx context.Context, account, ip string, op storeOp) (Decision, error) {
	now := g.now()
	acc, err := op(ctx, accountKey(account), g.Account, now)
	if ip == "" {
		if err != nil {
			return Decision{}, err
		}
		return acc, nil
	}
	ipd, ipErr := op(ctx, ipKey(ip), g.IP, now)
	if err := errors.Join(err, ipErr); err != nil {
		return Decision{}, err
	}
	return merge(acc, ipd), nil
}

// merge combines the account decision a and the IP decision b. Failures is
// that of the counter that decided: the denying one (the longer wait if
// both deny, the account on a tie), or the account when both allow.
func merge(a, b Decision) Decision {
	decider := a
	if !b.Allowed && (a.Allowed || b.RetryAfter > a.RetryAfter) {
		decider = b
	}
	return Decision{
		Allowed:    a.Allowed && b.Allowed,
		RetryAfter: max(a.RetryAfter, b.RetryAfter),
		Locked:     a.Locked || b.Locked,
		JustLocked: a.JustLocked || b.JustLocked,
		Failures:   decider.Failures,
	}
}
