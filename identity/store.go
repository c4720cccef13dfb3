// Package identity is Portero's domain: users, roles, OAuth clients, the
// records behind issued grants, signing keys and browser sessions, together
// with the Store interface every persistence backend implements. It depends
// on no database driver, OAuth engine or HTTP package.
package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned by every Store implementation. Callers compare with
// errors.Is; implementations wrap them with context.
var (
	ErrNotFound = newError(KindNotFound, "not-found", "not found")
	ErrConflict = newError(KindConflict, "conflict", "already exists")
	// ErrUnavailable marks a failure of the storage itself (the database
	// is down, slow or refused the statement): not an answer about the
	// data. Every surface answers it 503 with Retry-After, never with a
	// protocol verdict such as active:false or invalid_client.
	ErrUnavailable = newError(KindUnavailable, "unavailable", "storage unavailable")
)

// Unavailable marks err as a storage failure unless it is one of the
// answers about the data (ErrNotFound, ErrConflict) or already marked.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Store is the persistence boundary. Implementations must be safe for
// concurrent use. Every method that writes joins the transaction carried in
// ctx by InTx, if any.
type Store interface {
	// InTx runs fn in one transaction; fn's ctx carries it. Nested calls join
	// the outer transaction. A non-nil error from fn rolls back.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// BeginTx, CommitTx and RollbackTx are the same transactions in the
	// begin/commit style that fosite's storage.Transactional needs: BeginTx
	// returns a ctx carrying the transaction; CommitTx and RollbackTx end
	// the transaction carried by ctx.
	BeginTx(ctx context.Context) (context.Context, error)
	CommitTx(ctx context.Context) error
	RollbackTx(ctx context.Context) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error

	UserStore
	ClientStore
	GrantStore
	KeyStore
	SessionStore
	CredentialStore
	OneTimeTokenStore
	AuditStore
	LedgerStore
	LegalStore
	RequestStore
	ScopeConsentStore
	RoleStore
	SecretStore
	NetworkRuleStore
	WebhookCursorStore
	RevocationStore
}

// UserStore holds end-user accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByLogin finds a user by username or e-mail (both case-insensitive).
	UserByLogin(ctx context.Context, login string) (*User, error)
	UpdatePasswordHash(ctx context.Context, userID, hash string) error
	// SetEmailVerified records when the user proved control of their e-mail.
	SetEmailVerified(ctx context.Context, userID string, at time.Time) error
	// ChangeEmail sets a new address, proved at verifiedAt; an address
	// another account has is ErrConflict.
	ChangeEmail(ctx context.Context, userID, email string, verifiedAt time.Time) error
	// LockUser returns the user with its roles and, inside a transaction,
	// keeps the user's row locked until it ends, so that a decision taken
	// on the roles holds when the transaction acts on it (a concurrent
	// role grant waits). Outside a transaction it is UserByID.
	LockUser(ctx context.Context, id string) (*User, error)
	// SearchUsers returns the users matching q, ordered by username
	// (case-insensitive), then id; a page starts after q.After.
	SearchUsers(ctx context.Context, q UserQuery) ([]User, error)
	// SetUserDisabled disables or enables the account (and moves
	// UpdatedAt). Disabling the last enabled super_admin is
	// ErrLastSuperAdmin.
	SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// GrantRole is idempotent; RevokeRole of a role the user lacks is
	// ErrNotFound, and of the last super_admin ErrLastSuperAdmin.
	GrantRole(ctx context.Context, userID, role string) error
	RevokeRole(ctx context.Context, userID, role string) error
	// DeleteUser erases the account and everything hanging from it
	// (sessions, credentials, tokens, remembered consents); the ledger is
	// not touched. ErrNotFound if there is no such user; the last enabled
	// super_admin is ErrLastSuperAdmin.
	DeleteUser(ctx context.Context, id string) error
}

// ClientStore holds OAuth clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ListClients returns clients ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient stores every field of c but ID and CreatedAt if the
	// stored client still has UpdatedAt equal to prev (at microsecond
	// precision): ErrConflict when another writer changed it meanwhile,
	// ErrNotFound when there is none.
	UpdateClient(ctx context.Context, c *Client, prev time.Time) error
	DeleteClient(ctx context.Context, id string) error
}

// UserQuery selects users; zero fields match everything.
type UserQuery struct {
	// Text matches a part of the username or e-mail, ignoring case.
	Text     string
	Role     string
	Disabled *bool
	// After continues a listing: users whose (lower-cased username, id)
	// comes after this one's.
	After *User
	Limit int // LedgerDefaultLimit when not positive, at most LedgerMaxLimit
}

// GrantStore holds the records behind authorization codes, tokens, PKCE
// challenges and OIDC sessions, keyed by (kind, signature), and the JTIs of
// client assertions seen.
type GrantStore interface {
	CreateGrant(ctx context.Context, g *Grant) error
	// GrantBySignature returns the record whatever its state; callers check
	// Active, RotatedAt and ExpiresAt.
	GrantBySignature(ctx context.Context, kind GrantKind, signature string) (*Grant, error)
	DeleteGrant(ctx context.Context, kind GrantKind, signature string) error
	// DeactivateGrant marks one record inactive (a used authorization code).
	DeactivateGrant(ctx context.Context, kind GrantKind, signature string) error
	// DeactivateFamily marks every record of kind issued under requestID
	// inactive and returns how many changed.
	DeactivateFamily(ctx context.Context, kind GrantKind, requestID string) (int64, error)
	// DeactivateGrants marks every active record (codes, access and refresh
	// tokens) that the filter selects inactive and returns how many
	// changed: a revoked authorization, a credential event or an incident
	// ends them at once. In the same transaction it adds the revocation
	// rule (RevocationRuleFor) that ends the stateless access tokens the
	// filter selects, which have no rows: one call ends both kinds, so no
	// caller can forget the second. An empty filter is refused
	// (ErrEmptyGrantFilter).
	DeactivateGrants(ctx context.Context, f GrantFilter) (int64, error)
	// SubjectGrantClients lists the clients holding active records of the
	// subject: those to notify when the subject's authorization ends.
	SubjectGrantClients(ctx context.Context, subject string) ([]string, error)
	// MarkRotated sets RotatedAt on an active refresh token if it is not set
	// yet and reports whether this call set it (false: it was already rotated).
	MarkRotated(ctx context.Context, signature string, at time.Time) (bool, error)
	// DeleteExpiredGrants removes at most limit records whose ExpiresAt is
	// before the given time and returns how many it removed.
	DeleteExpiredGrants(ctx context.Context, before time.Time, limit int) (int64, error)
	// UseJTI records a client-assertion JTI until exp; ErrConflict if it was
	// already recorded and has not expired.
	UseJTI(ctx context.Context, jti string, exp time.Time) error
	// JTIUsed reports whether an unexpired JTI is recorded.
	JTIUsed(ctx context.Context, jti string) (bool, error)
}

// KeyStore holds signing keys; the private part is encrypted by the caller.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// DeleteSigningKey removes a key (a compromised one: it is neither
	// published nor used again); ErrNotFound if there is none.
	DeleteSigningKey(ctx context.Context, id string) error
	// SigningKeys returns every key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
}

// Reseal re-encrypts one sealed value (with its associated data) under the
// current system secret; changed is false when it already was.
type Reseal func(sealed, ad []byte) (out []byte, changed bool, err error)

// ResealReport says what a reseal changed and what it could not open.
type ResealReport struct {
	TOTP, SigningKeys int
	// Unreadable names values no configured secret opens ("totp:USER",
	// "key:KID"): they were lost before the reseal and stay as they are.
	Unreadable []string
}

// SecretDependents counts what still needs a previous system secret after
// a reseal: values derived from it that cannot be re-keyed because only a
// digest is stored (token signatures, recovery codes) or the browser holds
// them (session cookies). Each is counted from Since, when the new secret
// took over; Until is when the last of them expires (zero when none do).
type SecretDependents struct {
	Since              time.Time
	Tokens             int
	TokensUntil        time.Time
	TokensUnbounded    int // of Tokens, those without an expiry
	Sessions           int
	SessionsUntil      time.Time
	RecoveryCodeOwners int
}

// SecretStore re-encrypts what the system secret protects at rest.
type SecretStore interface {
	// ResealSecrets passes every sealed TOTP seed (ad: the user id) and
	// signing key (ad: the kid) through the functions and writes back the
	// changed ones, all in one transaction.
	ResealSecrets(ctx context.Context, totp, keys Reseal) (ResealReport, error)
	// SecretDependents counts the active tokens and sessions created, and
	// the unused recovery codes made, before since.
	SecretDependents(ctx context.Context, since time.Time) (SecretDependents, error)
}

// WebhookCursorStore keeps each webhook receiver's position in the ledger
// (the outbox) and which replica delivers to it.
type WebhookCursorStore interface {
	// LeaseWebhookCursor takes or renews the lease of the named cursor for
	// owner until until, if nobody else holds it at now; a new cursor
	// starts at the ledger's current end. It returns the last delivered
	// sequence number and whether the lease is owner's.
	LeaseWebhookCursor(ctx context.Context, name, owner string, now, until time.Time) (delivered int64, ok bool, err error)
	// AdvanceWebhookCursor records seq as delivered, if owner still holds
	// the lease (ErrConflict otherwise).
	AdvanceWebhookCursor(ctx context.Context, name, owner string, seq int64) error
}

// SessionStore holds browser sessions and authorization requests that wait
// for the user (a login page, later MFA and consent).
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	SessionByID(ctx context.Context, id string) (*Session, error)
	// TouchSession records activity; ErrNotFound if the session is gone.
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) (int64, error)
	// SessionsByUser returns the user's sessions, most recently seen first.
	SessionsByUser(ctx context.Context, userID string) ([]Session, error)
	// DeleteUserSession ends one of the user's sessions; a session of
	// another user is ErrNotFound.
	DeleteUserSession(ctx context.Context, userID, id string) error
	DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int64, error)

	CreatePendingAuthorization(ctx context.Context, p *PendingAuthorization) error
	PendingAuthorizationByID(ctx context.Context, id string) (*PendingAuthorization, error)
	DeletePendingAuthorization(ctx context.Context, id string) error
}

// CredentialStore holds second factors and passkeys.
type CredentialStore interface {
	// PutTOTP stores an unconfirmed TOTP enrolment, replacing an unconfirmed
	// one; ErrConflict if a confirmed one exists.
	PutTOTP(ctx context.Context, c *TOTPCredential) error
	TOTPByUser(ctx context.Context, userID string) (*TOTPCredential, error)
	// ConfirmTOTP confirms the enrolment and records step as used.
	ConfirmTOTP(ctx context.Context, userID string, at time.Time, step int64) error
	// UseTOTPStep accepts step for the confirmed credential only if it is
	// later than the last step accepted, atomically: false means a replay.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	DeleteTOTP(ctx context.Context, userID string) error

	CreateWebAuthnCredential(ctx context.Context, c *WebAuthnCredential) error
	WebAuthnCredentialsByUser(ctx context.Context, userID string) ([]WebAuthnCredential, error)
	WebAuthnCredentialByID(ctx context.Context, id string) (*WebAuthnCredential, error)
	// UpdateWebAuthnCredential stores the record after a sign-in (new sign
	// count, flags) and its last use.
	UpdateWebAuthnCredential(ctx context.Context, id string, credential []byte, usedAt time.Time) error
	// DeleteWebAuthnCredential removes one of the user's credentials; one of
	// another user is ErrNotFound.
	DeleteWebAuthnCredential(ctx context.Context, userID, id string) error

	// ReplaceRecoveryCodes drops the user's codes and stores these digests.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error
	// UseRecoveryCode marks an unused code used; false if there is none.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error)
	// UnusedRecoveryCodes counts the codes still usable.
	UnusedRecoveryCodes(ctx context.Context, userID string) (int, error)
	// SecondFactors summarises the user's second factors in one query:
	// sign-in asks this on every password login.
	SecondFactors(ctx context.Context, userID string) (SecondFactors, error)
}

// SecondFactors is what a user can complete a sign-in with.
type SecondFactors struct {
	TOTP          bool // a confirmed TOTP enrolment
	Passkeys      int
	RecoveryCodes int // unused
}

// OneTimeTokenStore holds single-use tokens.
type OneTimeTokenStore interface {
	CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error
	// ConsumeOneTimeToken deletes and returns the token with this id and
	// purpose; ErrNotFound if there is none or it expired before now.
	// Exactly one of concurrent callers gets it.
	ConsumeOneTimeToken(ctx context.Context, purpose, id string, now time.Time) (*OneTimeToken, error)
	// DeleteUserOneTimeTokens drops the user's tokens of a purpose (an
	// older reset link once a new one is sent or the password changed).
	DeleteUserOneTimeTokens(ctx context.Context, userID, purpose string) error
	DeleteExpiredOneTimeTokens(ctx context.Context, before time.Time, limit int) (int64, error)
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	UserID string
	Type   string
	Limit  int
}

// AuditStore appends to and reads the audit trail, which lives in the
// ledger as entries of kind LedgerAudit. Events are never updated or deleted.
type AuditStore interface {
	// AppendAudit appends e to the ledger (Subject = UserID, Payload = the
	// Details as a JSON object) and sets e.ID to the entry's Seq.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AuditEvents returns matching events, newest first (at most
	// LedgerMaxLimit).
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}
