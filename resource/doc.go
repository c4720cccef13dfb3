// Package resource lets a Go service (an OAuth 2.0 resource server) accept
// the access tokens Portero issues. Three lines put it in front of a handler:
//
//	v, err := resource.New(ctx, resource.Config{Issuer: "https://id.example.com", ClientID: "orders-api", ClientSecret: secret})
//	mux.Handle("GET /orders", v.Middleware(resource.RequireRole("vendor")(orders)))
//	claims, _ := resource.FromContext(r.Context()) // in orders: who is calling, with which roles and scopes
//
// New reads Portero's OpenID Connect discovery document for the endpoints.
// Middleware takes the token from "Authorization: Bearer", validates it and
// puts its *Claims in the request context; a request without a valid token is
// answered as RFC 6750 says (401 with WWW-Authenticate, 400 for a malformed
// header, 403 insufficient_scope from RequireScope, RequireRole and
// RequirePermission), and the handler never runs.
//
// # Two ways to validate
//
// Introspect (the default) asks Portero's RFC 7662 introspection endpoint,
// authenticating with the service's own client credentials (a client created
// with "portero clients create ... --grant-types client_credentials
// --introspect"). It accepts JWT and opaque tokens alike and sees
// revocations. Answers are cached in memory: positive ones for CacheTTL (30 s
// by default, and never past the token's expiry), negative ones for
// NegativeTTL (5 s); concurrent look-ups of one token make one request. A
// revoked token is therefore refused at most CacheTTL after its revocation;
// a negative CacheSize or CacheTTL turns the cache off. The cache is keyed by
// the SHA-256 digest of the token, never the token itself.
//
// LocalJWT verifies RFC 9068 JWT access tokens against Portero's JWKS
// (jwks_uri) without a network call: typ "at+jwt", alg ES256, RS256 or PS256
// (never "none"), iss exactly Config.Issuer, aud containing Config.Audience
// when set, exp, nbf and iat with 30 s of leeway. The key set is cached and
// fetched again when a token names an unknown kid (at most every 10 s) or
// when the set is older than its Cache-Control max-age, so Portero's key
// rotations ("portero keys rotate") need no restart. Opaque tokens fall back
// to introspection when ClientID and ClientSecret are set. A JWT stays valid
// until its exp even if revoked, unless RevocationCheck is set: then each
// token is also introspected (through the same cache).
//
// # Claims
//
// Claims carry the subject, the client, the audience, the scopes and the
// roles. (Portero's client-credentials tokens carry the client's roles but,
// today, no scope and only the client itself as audience: RequireScope and
// Config.Audience suit user tokens from the code flow.) Permissions come from a "permissions" claim (a JSON array of strings,
// or one space-separated string) in the JWT or the introspection response.
// Portero does not issue that claim yet (it is planned for a later release);
// until then Claims.Permissions is empty and RequirePermission refuses every
// token, which fails closed.
//
// Errors returned by Validate and written by Middleware never contain the
// token.
package resource
