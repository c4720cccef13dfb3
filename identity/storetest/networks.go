package storetest

import (
	"testing"

	"github.com/portero-id/portero/identity"
)

func testNetworkRules(t *testing.T, s identity.Store) {
	ctx := t.Context()
	rules, err := s.NetworkRules(ctx)
	noErr(t, "NetworkRules(empty)", err)
	if len(rules) != 0 {
		t.Fatalf("rules on an empty store: %v", rules)
	}
	// Addresses and ranges are stored canonically.
	noErr(t, "Put", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "203.0.113.77/24", Action: identity.NetworkDeny, Note: "stuffing", CreatedBy: "cli:ops", CreatedAt: base}))
	noErr(t, "Put", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "2001:db8::1", Action: identity.NetworkAllow, CreatedAt: base}))
	// Putting the same prefix again replaces the rule.
	noErr(t, "Put(again)", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "203.0.113.0/24", Action: identity.NetworkAllow, Note: "partner", CreatedAt: base}))
	rules, err = s.NetworkRules(ctx)
	noErr(t, "NetworkRules", err)
	if len(rules) != 2 || rules[0].Prefix != "2001:db8::1/128" || rules[1].Prefix != "203.0.113.0/24" || rules[1].Action != identity.NetworkAllow ||
		rules[1].Note != "partner" || !rules[1].CreatedAt.Equal(trunc(base)) {
		t.Fatalf("rules = %+v", rules)
	}
	wantErr(t, "Put(bad prefix)", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "10.0.0.0/33", Action: identity.NetworkDeny}), identity.ErrInvalid)
	wantErr(t, "Put(bad action)", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "10.0.0.0/8", Action: "block"}), identity.ErrInvalid)
	wantErr(t, "Put(deny everything)", s.PutNetworkRule(ctx, &identity.NetworkRule{Prefix: "0.0.0.0/0", Action: identity.NetworkDeny}), identity.ErrInvalid)
	noErr(t, "Delete", s.DeleteNetworkRule(ctx, "203.0.113.9/24"))
	wantErr(t, "Delete(again)", s.DeleteNetworkRule(ctx, "203.0.113.0/24"), identity.ErrNotFound)
}
