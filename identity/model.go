package identity

import (
	"slices"
	"time"
)

// User is an end-user account. Roles are role names (customer, vendor, …).
type User struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string // argon2id PHC string; empty: no password set
	// EmailVerifiedAt is when the user proved control of Email; nil if not.
	EmailVerifiedAt *time.Time
	Roles           []string
	Disabled        bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// HasRole reports whether the user holds role.
func (u *User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// Token formats a client can choose for its access tokens.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Client authentication methods (RFC 7591 names).
const (
	AuthMethodBasic      = "client_secret_basic"
	AuthMethodPost       = "client_secret_post"
	AuthMethodPrivateKey = "private_key_jwt"
	AuthMethodNone       = "none"
)

// Client is a registered OAuth client.
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 digest of the secret; empty for public clients
	// and for clients that authenticate with private_key_jwt.
	SecretHash []byte
	// TokenEndpointAuthMethod says how the client authenticates; none
	// makes it public (IsPublic).
	TokenEndpointAuthMethod string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	Scopes                  []string
	Audience                []string
	// Roles are the client's own roles, carried by client-credentials tokens.
	Roles []string
	// JWKS is the client's public key set (JSON) for private_key_jwt.
	JWKS                     []byte
	TokenFormat              string
	IDTokenSignedResponseAlg string
	// IntrospectAny lets the client introspect tokens issued to other
	// clients (a resource server); without it a client only sees its own
	// tokens and tokens whose audience names it.
	IntrospectAny bool
	// FirstParty clients (the marketplace's own applications) get their
	// scopes without the scope consent page; the legal consent is still
	// asked of every user.
	FirstParty bool
	// TokenRateLimit is the client's budget at the token endpoint in
	// requests per minute (bursts scale with it); 0 takes the default,
	// rate_limits.token_per_client.
	TokenRateLimit int
	// AllowedOrigins are the web origins (scheme://host[:port]) a browser
	// app calls the token, revocation and userinfo endpoints from: the
	// CORS allow-list (Keycloak's "Web Origins"). Empty for every client
	// that is not a browser app.
	AllowedOrigins []string
	// BackchannelLogoutURI receives OpenID Connect Back-Channel Logout
	// tokens when a user's authorization for this client ends; "" for none.
	BackchannelLogoutURI string
	// PermissionsClaim puts the permissions of the token's roles in the
	// client's JWT access tokens; off, services expand them through
	// introspection and tokens stay small.
	PermissionsClaim bool
	// RegistrationTokenHash is the SHA-256 digest of the registration
	// access token of a dynamically registered client (RFC 7592); nil for
	// clients an administrator created.
	RegistrationTokenHash []byte
	// Disabled clients cannot authenticate or start a flow, and their
	// tokens stop validating, until an administrator enables them again.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IsPublic reports whether the client has no credential (RFC 6749 §2.1):
// what its authentication method none says, so the two cannot disagree.
func (c *Client) IsPublic() bool { return c.TokenEndpointAuthMethod == AuthMethodNone }

// ResponseTypes are the response types the client may use: code when it
// may use the authorization-code grant (the only flow Portero serves),
// none otherwise.
func (c *Client) ResponseTypes() []string {
	if slices.Contains(c.GrantTypes, "authorization_code") {
		return []string{"code"}
	}
	return []string{}
}

// GrantKind tells which fosite record a Grant holds.
type GrantKind string

const (
	GrantAuthorizeCode GrantKind = "authorize_code"
	GrantAccessToken   GrantKind = "access_token"
	GrantRefreshToken  GrantKind = "refresh_token"
	GrantPKCE          GrantKind = "pkce"
	GrantOIDC          GrantKind = "oidc"
	// GrantRefreshReplay keeps, for the refresh grace period, the sealed
	// response a refresh token's exchange got, under that token's
	// signature: a duplicate exchange gets the same answer.
	GrantRefreshReplay GrantKind = "refresh_replay"
)

// Grant is the stored request behind one token or code. RequestID groups a
// family: every token issued from one authorization shares it.
type Grant struct {
	Kind      GrantKind
	Signature string
	RequestID string
	ClientID  string
	Subject   string
	Active    bool
	// RotatedAt is set the first time a refresh token is exchanged.
	RotatedAt   *time.Time
	RequestedAt time.Time
	ExpiresAt   time.Time
	// Data is the serialized request (scopes, audience, session); opaque to
	// the store.
	Data []byte
}

// GrantFilter selects grants to revoke; every field set must match.
type GrantFilter struct {
	// Kind selects one kind of record (all access tokens, say).
	Kind     GrantKind
	Subject  string
	ClientID string
	// IssuedBefore selects grants whose request was made before it (a
	// refresh family keeps the time of its first request).
	IssuedBefore time.Time
}

// Empty reports whether f selects every grant.
func (f GrantFilter) Empty() bool {
	return f.Kind == "" && f.Subject == "" && f.ClientID == "" && f.IssuedBefore.IsZero()
}

// ErrEmptyGrantFilter refuses to revoke every grant by accident.
var ErrEmptyGrantFilter = newError(KindInvalid, "empty-grant-filter", "a grant filter needs a subject, a client or a time")

// SigningKey is one JOSE signing key. PrivateJWK is encrypted by the caller
// before it reaches the store.
type SigningKey struct {
	ID                  string // kid
	Algorithm           string // RS256, ES256
	Use                 string // access_token, id_token
	PublicJWK           []byte
	EncryptedPrivateJWK []byte
	CreatedAt           time.Time
	// ActiveAt is when the key starts signing: after the JWKS cache period,
	// so verifiers have fetched it before they see tokens signed with it.
	ActiveAt time.Time
}

// Session is a signed-in browser session.
type Session struct {
	ID         string // stored as given; callers store a digest of the cookie value
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// PendingAuthorization is an authorization request parked while the user
// signs in (and, later, passes MFA and consent).
type PendingAuthorization struct {
	ID    string
	Query string // the original /oauth2/auth query, validated again on every resume
	// ClientID and Scopes are the validated request's client and the
	// scopes it asks for that the client may have, as the pages show them.
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Authentication context classes (acr) Portero asserts, weakest first, and
// the RFC 8176 authentication method references (amr) behind them.
const (
	// ACRPassword: something the user knows.
	ACRPassword = "urn:portero:acr:pwd" // #nosec G101 -- an identifier, not a credential
	// ACRMFA: a password plus a second factor (TOTP, recovery code or a
	// passkey used as second factor).
	ACRMFA = "urn:portero:acr:mfa"
	// ACRPhishingResistant: a passkey with user verification (origin-bound
	// public-key cryptography), with or without a password.
	ACRPhishingResistant = "urn:portero:acr:phr"

	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRHardware = "hwk"  // a device-bound passkey or security key
	AMRSoftware = "swk"  // a synced passkey (backup eligible)
	AMRUser     = "user" // user presence and verification (PIN, biometrics) at the authenticator
	AMRMFA      = "mfa"
)

// ACRLevels orders the classes, weakest first.
var ACRLevels = []string{ACRPassword, ACRMFA, ACRPhishingResistant}

// ACRRank is the position of acr in ACRLevels, -1 if unknown.
func ACRRank(acr string) int { return slices.Index(ACRLevels, acr) }

// TOTPCredential is a user's authenticator app. EncryptedSecret is sealed by
// the caller before it reaches the store.
type TOTPCredential struct {
	UserID          string
	EncryptedSecret []byte
	// ConfirmedAt is nil until the user proved the enrolment with a code.
	ConfirmedAt *time.Time
	// LastStep is the last TOTP time step accepted (replay protection).
	LastStep  int64
	CreatedAt time.Time
}

// WebAuthnCredential is a passkey or security key. Credential is the
// library's JSON record of it (public key, flags, sign count, AAGUID),
// stripped of the attestation statement.
type WebAuthnCredential struct {
	ID         string // base64url credential id
	UserID     string
	Name       string
	Credential []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// One-time token purposes.
const (
	PurposeVerifyEmail   = "verify_email"
	PurposeChangeEmail   = "change_email"
	PurposeResetPassword = "reset_password"
	PurposeWebAuthn      = "webauthn"
)

// OneTimeToken is a single-use value handed to a user (an e-mailed link) or
// a browser (a WebAuthn challenge). ID is a digest of the value.
type OneTimeToken struct {
	ID        string
	Purpose   string
	UserID    string // may be empty (a passwordless WebAuthn challenge)
	Data      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEvent is one entry of the security audit trail.
type AuditEvent struct {
	ID         int64
	OccurredAt time.Time
	Type       string
	UserID     string // whom it is about
	Actor      string // who did it, when not the user (an admin, the system)
	IP         string
	UserAgent  string
	Details    map[string]string
}

// Audit event types of the sign-in surface.
const (
	AuditSignup            = "user.signup"
	AuditEmailVerified     = "user.email_verified"
	AuditEmailChanged      = "user.email_changed"
	AuditLoginSuccess      = "login.success"
	AuditLoginFailure      = "login.failure"
	AuditLockout           = "login.lockout"
	AuditMFAFailure        = "mfa.failure"
	AuditTOTPEnrolled      = "mfa.totp_enrolled"
	AuditTOTPRemoved       = "mfa.totp_removed"
	AuditPasskeyAdded      = "mfa.passkey_added"   // #nosec G101 -- an identifier, not a credential
	AuditPasskeyRemoved    = "mfa.passkey_removed" // #nosec G101 -- an identifier, not a credential
	AuditRecoveryCodeUsed  = "mfa.recovery_code_used"
	AuditRecoveryGenerated = "mfa.recovery_codes_generated"
	AuditPasswordChanged   = "password.changed"
	AuditPasswordReset     = "password.reset"
	AuditPasswordResetSent = "password.reset_requested"
	AuditSessionRevoked    = "session.revoked"
	AuditSessionsRevoked   = "session.revoked_all"
	AuditLogout            = "session.logout"
	// AuditStuffingSuspected: a network spent its budget of failed
	// sign-ins; its sign-in form asks for a proof of work for a while.
	AuditStuffingSuspected = "login.stuffing_suspected"
	// AuditNewDevice: a sign-in from a browser family and network the
	// account had not signed in from before; the owner is told by e-mail.
	AuditNewDevice = "login.new_device"
	// AuditRefreshReused: a refresh token was presented after it had been
	// rotated (past the grace period); its family is revoked. One of the
	// two holders was not the client.
	AuditRefreshReused = "token.refresh_reused"
)
