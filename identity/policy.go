package identity

import (
	"slices"
	"time"
)

// RoleSuperAdmin is the built-in role above every other; at least one
// user always holds it.
const RoleSuperAdmin = "super_admin"

// ErrLastSuperAdmin refuses to remove the last super_admin: nobody could
// administer Portero any more.
var ErrLastSuperAdmin = newError(KindConflict, "last-super-admin", "the last super_admin cannot be removed")

// MFAPolicy decides who must use a second factor.
type MFAPolicy struct {
	// Roles whose holders must have and use a second factor.
	Roles []string
}

// MayRemoveFactor reports whether u may remove one of the factors they
// have: the policy's users keep at least one.
func (p MFAPolicy) MayRemoveFactor(u *User, factors int) bool {
	return !p.Requires(u) || factors > 1
}

// Requires reports whether u must sign in with a second factor.
func (p MFAPolicy) Requires(u *User) bool {
	for _, r := range u.Roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// FreshAuthWindow bounds how long after signing in a session may change
// the account's factors, or an administrator may act, without signing in
// again: a stolen or forgotten session must not be enough to add the
// thief's passkey or TOTP, or to remove the owner's. It is the one
// freshness rule; every factor change and admin action asks IsFresh.
const FreshAuthWindow = 15 * time.Minute

// IsFresh reports whether a sign-in made at authTime is recent enough at
// now for a change of factors. A zero authTime is never fresh.
func IsFresh(authTime, now time.Time) bool {
	return !authTime.IsZero() && now.Sub(authTime) <= FreshAuthWindow
}
