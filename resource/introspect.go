package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// introspect asks Portero (RFC 7662) about token and checks the answer.
// Errors wrap ErrInvalidToken (inactive or not acceptable here) or
// ErrUnavailable.
func (v *Validator) introspect(ctx context.Context, token string) (*Claims, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the id and secret are form-encoded first.
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	resp, err := v.client.Do(req)
	if err != nil {
		// *url.Error names the endpoint, never the body (the token).
		v.log.WarnContext(ctx, "resource: introspection request failed", "err", err)
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBody)
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, body)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			v.log.ErrorContext(ctx, "resource: the introspection endpoint refused the service's credentials", "status", resp.StatusCode, "client_id", v.cfg.ClientID)
		} else {
			v.log.WarnContext(ctx, "resource: introspection failed", "status", resp.StatusCode)
		}
		return nil, fmt.Errorf("%w: introspection answered %s", ErrUnavailable, resp.Status)
	}
	var raw map[string]any
	if err := json.NewDecoder(body).Decode(&raw); err != nil {
		v.log.WarnContext(ctx, "resource: introspection answered non-JSON", "err", err)
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	if active, _ := raw["active"].(bool); !active {
		return nil, invalidToken("the access token is not active")
	}
	return v.checkIntrospection(raw)
}

func (v *Validator) checkIntrospection(raw map[string]any) (*Claims, error) {
	// Portero answers for refresh tokens too: they are not bearer tokens.
	if use, ok := raw["token_use"].(string); ok && use != "access_token" {
		return nil, invalidToken("not an access token")
	}
	if tt, ok := raw["token_type"].(string); ok && !strings.EqualFold(tt, "bearer") {
		return nil, invalidToken("not an access token")
	}
	c := claimsFrom(raw)
	if c.Issuer != "" && c.Issuer != v.cfg.Issuer {
		return nil, invalidToken("the access token is from another issuer")
	}
	if err := v.checkAudience(c.Audience); err != nil {
		return nil, err
	}
	if !c.ExpiresAt.IsZero() && !v.now().Before(c.ExpiresAt.Add(leeway)) {
		return nil, invalidToken("the access token expired")
	}
	return c, nil
}

func (v *Validator) checkAudience(aud []string) error {
	if v.cfg.Audience != "" && !slices.Contains(aud, v.cfg.Audience) {
		return invalidToken("the access token is not for this audience")
	}
	return nil
}
