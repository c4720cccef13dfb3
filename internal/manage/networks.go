package manage

import (
	"context"

	"github.com/portero-id/portero/identity"
)

// Ledger entries of the network rules.
const (
	EventNetworkRuleSet     = "admin.network_rule_set"
	EventNetworkRuleRemoved = "admin.network_rule_removed"
)

// NetworkRules lists the denied and allowed networks.
func (s *Service) NetworkRules(ctx context.Context) ([]identity.NetworkRule, error) {
	return s.Store.NetworkRules(ctx)
}

// SetNetworkRule denies or allows a network (replacing its rule). It can
// shut a whole population out, so it takes PermRoles, like the other
// changes whose reach is every account.
func (s *Service) SetNetworkRule(ctx context.Context, a Actor, r identity.NetworkRule) (*identity.NetworkRule, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "network.set", target{}, "network rules need "+PermRoles); err != nil {
		return nil, err
	}
	r.CreatedBy, r.CreatedAt = a.ID, s.now()
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.PutNetworkRule(ctx, &r); err != nil {
			return err
		}
		return s.record(ctx, a, EventNetworkRuleSet, target{}, map[string]any{"prefix": r.Prefix, "action": r.Action, "note": r.Note})
	})
	if err != nil {
		return nil, err
	}
	s.networksChanged()
	return &r, nil
}

// RemoveNetworkRule removes the rule for prefix.
func (s *Service) RemoveNetworkRule(ctx context.Context, a Actor, prefix string) error {
	p, err := identity.ParseNetwork(prefix)
	if err != nil {
		return err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	if err := s.mayChangePrivilege(ctx, cat, a, "network.remove", target{}, "network rules need "+PermRoles); err != nil {
		return err
	}
	err = s.Store.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteNetworkRule(ctx, p.String()); err != nil {
			return err
		}
		return s.record(ctx, a, EventNetworkRuleRemoved, target{}, map[string]any{"prefix": p.String()})
	})
	if err == nil {
		s.networksChanged()
	}
	return err
}

// networksChanged tells this process's screen at once (other replicas
// hear it from the database, or reload within their interval).
func (s *Service) networksChanged() {
	if s.OnNetworkChange != nil {
		s.OnNetworkChange()
	}
}
