package identity_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/portero-id/portero/identity"
)

func TestErrorKindsCodesAndDetails(t *testing.T) {
	wrapped := fmt.Errorf("role %q is still held: %w", "vendor", identity.ErrConflict)
	for _, tc := range []struct {
		err          error
		kind         identity.Kind
		code, detail string
	}{
		{wrapped, identity.KindConflict, "conflict", `role "vendor" is still held`},
		{fmt.Errorf("%w: user 7", identity.ErrNotFound), identity.KindNotFound, "not-found", "user 7"},
		{identity.ErrTermEnded, identity.KindConflict, "term-ended", ""},
		{fmt.Errorf("load: %w", identity.Unavailable(errors.New("dial tcp: refused"))), identity.KindUnavailable, "unavailable", "load: storage unavailable: dial tcp: refused"},
		{errors.New("disk on fire"), identity.KindNone, "", ""},
		{(&identity.Client{ID: "app", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"http://app.example.com/cb"}}).Validate(nil),
			identity.KindInvalid, "invalid-redirect-uri", ""},
	} {
		if k, c := identity.ErrorKind(tc.err), identity.ErrorCode(tc.err); k != tc.kind || c != tc.code {
			t.Errorf("%v: kind %d code %q, want %d %q", tc.err, k, c, tc.kind, tc.code)
		}
		if tc.detail != "" && identity.Detail(tc.err) != tc.detail {
			t.Errorf("%v: detail %q, want %q", tc.err, identity.Detail(tc.err), tc.detail)
		}
	}
	// A refinement is also the refusal it refines.
	if err := fmt.Errorf("%w: x", identity.ErrRedirectURI); !errors.Is(err, identity.ErrInvalid) || !errors.Is(err, identity.ErrRedirectURI) {
		t.Error("ErrRedirectURI does not refine ErrInvalid")
	}
	if errors.Is(identity.ErrInvalid, identity.ErrRedirectURI) {
		t.Error("ErrInvalid matches its refinement")
	}
}
