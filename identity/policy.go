package identity

import "slices"

// MFAPolicy decides who must use a second factor.
type MFAPolicy struct {
	// Roles whose holders must have and use a second factor.
	Roles []string
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
