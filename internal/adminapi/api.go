// Package adminapi is the admin JSON API under /admin/v1, described by
// docs/openapi.yaml (served at /admin/v1/openapi.yaml). Its handlers only
// translate HTTP: every rule and every ledger entry belongs to
// manage.Service, which the admin pages and the CLI call too.
//
// # Authorization
//
// A request carries a Portero access token (RFC 6750 bearer). No token, or
// one that is not active, is 401 with WWW-Authenticate. An active token
// needs the scope portero:admin:read for reads and portero:admin:write for
// changes, and its user (or, for client credentials, its client) must hold
// admin or super_admin now, directly or through a role that includes it:
// otherwise 403, and the refusal is written to the ledger with the
// token's identity (up to refusalBudget per caller in refusalWindow). A
// user's token must also come from a sign-in with a second factor (acr
// urn:portero:acr:mfa or better) within identity.FreshAuthWindow, as the admin
// pages demand. Guard rails inside the service (roles above the
// actor's, the role catalog, the last super_admin) answer 403 or 409.
//
// # Conventions
//
// Errors are RFC 9457 problem details. Lists return {"items", "next_cursor"}
// and take cursor and limit (1-200, default 50); a cursor is opaque. Single
// resources carry an ETag (a digest of the representation); PUT of a
// client needs If-Match (428 without, 412 when stale), and the changes
// whose documentation lists If-Match check it when it is sent.
package adminapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/ratelimit"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/throttle"
	"github.com/portero-id/portero/oauth"
)

// Scopes of the admin API.
const (
	ScopeRead  = "portero:admin:read"
	ScopeWrite = "portero:admin:write"
)

// Tokens validates access tokens (the OAuth provider).
type Tokens interface {
	Principal(ctx context.Context, token string) (*oauth.Principal, error)
}

// API holds the admin API's dependencies.
type API struct {
	Manage   *manage.Service
	Requests *identity.Requests
	Tokens   Tokens
	// Refusals counts recorded refusals per actor (the sign-in throttle's
	// store: in memory, or Redis shared by the replicas). Past
	// refusalBudget in refusalWindow, a refusal is logged but not
	// written to the ledger: any customer's token can be refused, and the
	// hash-chained ledger must not be a place to flood.
	Refusals throttle.Store
	Now      func() time.Time
	// Limit meters each administrator (or admin client) once its token
	// is authenticated; nil meters nothing.
	Limit *ratelimit.Meter
	// Spec is docs/openapi.yaml.
	Spec []byte
	Log  *slog.Logger
}

// Prefix is where the API lives.
const Prefix = "/admin/v1"

// Mount registers the API's routes.
func (a *API) Mount(r *mux.Router) {
	sub := r.PathPrefix(Prefix).Subrouter()
	sub.HandleFunc("/openapi.yaml", a.openAPI).Methods(http.MethodGet, http.MethodHead)
	read := func(path string, h handler) {
		sub.Handle(path, a.authorized(ScopeRead, h)).Methods(http.MethodGet, http.MethodHead)
	}
	write := func(method, path string, h handler) {
		sub.Handle(path, a.authorized(ScopeWrite, h)).Methods(method)
	}
	read("/clients", a.listClients)
	write(http.MethodPost, "/clients", a.createClient)
	read("/clients/{id}", a.getClient)
	write(http.MethodPut, "/clients/{id}", a.updateClient)
	write(http.MethodDelete, "/clients/{id}", a.deleteClient)
	write(http.MethodPost, "/clients/{id}/secret", a.rotateSecret)
	write(http.MethodPost, "/clients/{id}/{state:disable|enable}", a.setClientState)

	read("/users", a.listUsers)
	write(http.MethodPost, "/users", a.createUser)
	write(http.MethodPost, "/users/{id}/reset-link", a.sendResetLink)
	read("/users/{id}", a.getUser)
	write(http.MethodDelete, "/users/{id}", a.deleteUser)
	write(http.MethodPost, "/users/{id}/{state:disable|enable}", a.setUserState)
	write(http.MethodPost, "/users/{id}/unlock", a.unlockUser)
	write(http.MethodPost, "/users/{id}/reset-mfa", a.resetMFA)
	write(http.MethodPut, "/users/{id}/roles/{role}", a.grantRole)
	write(http.MethodDelete, "/users/{id}/roles/{role}", a.revokeRole)
	read("/users/{id}/sessions", a.listSessions)
	write(http.MethodDelete, "/users/{id}/sessions", a.revokeSessions)
	write(http.MethodDelete, "/users/{id}/sessions/{sid}", a.revokeSession)
	read("/users/{id}/consents", a.userConsents)

	read("/roles", a.listRoles)
	read("/roles/{name}", a.getRole)
	write(http.MethodPut, "/roles/{name}", a.putRole)
	write(http.MethodDelete, "/roles/{name}", a.deleteRole)

	read("/keys", a.listKeys)
	write(http.MethodPost, "/keys/rotate", a.rotateKeys)

	read("/requests", a.listRequests)
	read("/requests/{id}", a.getRequest)
	write(http.MethodPost, "/requests/{id}/{action:extend|info|answer|refuse|dispute}", a.actOnRequest)

	read("/events", a.listEvents)

	read("/network-rules", a.listNetworkRules)
	write(http.MethodPost, "/network-rules", a.setNetworkRule)
	write(http.MethodDelete, "/network-rules", a.removeNetworkRule)

	sub.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusNotFound, "not-found", "No such resource.", "")
	})
	sub.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed.", "")
	})
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.Spec)
}

// call is one authorized request.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	actor manage.Actor
}

type handler func(c *call) error

func (c *call) ctx() context.Context    { return c.r.Context() }
func (c *call) var_(name string) string { return mux.Vars(c.r)[name] }

// bearer returns the RFC 6750 bearer token of r, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authorized authenticates the token and checks scope and role.
func (a *API) authorized(scope string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		token := bearer(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portero-admin"`)
			a.problem(w, r, http.StatusUnauthorized, "unauthorized", "An access token is required.", "")
			return
		}
		p, err := a.Tokens.Principal(r.Context(), token)
		if errors.Is(err, oauth.ErrInactiveToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portero-admin", error="invalid_token"`)
			a.problem(w, r, http.StatusUnauthorized, "unauthorized", "The access token is not active.", "")
			return
		}
		if err != nil {
			a.serverError(w, r, "admin api principal", err)
			return
		}
		isAdmin, err := a.Manage.IsAdmin(r.Context(), p.Roles)
		if err != nil {
			a.serverError(w, r, "admin api roles", err)
			return
		}
		actor := actorOf(r, p, isAdmin)
		if !a.Limit.Allow(r.Context(), w.Header(), actor.ID) {
			WriteTooManyRequests(w, r)
			return
		}
		if reason := a.refusal(p, scope, isAdmin); reason != "" {
			if !slices.Contains(p.Scopes, scope) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="portero-admin", error="insufficient_scope", scope="`+scope+`"`)
			}
			// The route's template, not the path: a refusal's record has
			// a bounded size whatever the caller sends.
			op := r.Method + " " + r.URL.Path
			if tmpl, err := mux.CurrentRoute(r).GetPathTemplate(); err == nil {
				op = r.Method + " " + tmpl
			}
			a.deny(w, r, actor, op, reason)
			return
		}
		c := &call{w: w, r: r, actor: actor}
		if err := h(c); err != nil {
			c.fail(a, err)
		}
	})
}

// actorOf is the caller as the ledger names it: the client of a
// client-credentials token, an administrator, or a plain user.
func actorOf(r *http.Request, p *oauth.Principal, isAdmin bool) manage.Actor {
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	actor := manage.Actor{Roles: p.Roles, IP: session.ClientIP(r), UserAgent: ua}
	switch {
	case p.UserID == "":
		actor.ID = manage.ClientActor(p.ClientID)
	case isAdmin:
		actor.ID = identity.AdminActor(p.UserID)
	default:
		actor.ID = "user:" + p.UserID
	}
	return actor
}

// refusal is why an authenticated token may not make a call needing
// scope, or "" when it may.
func (a *API) refusal(p *oauth.Principal, scope string, isAdmin bool) string {
	switch {
	case !slices.Contains(p.Scopes, scope):
		return "the token lacks the scope " + scope
	case !isAdmin:
		return "the token's user or client holds neither admin nor super_admin"
	case p.UserID != "" && identity.ACRRank(p.ACR) < identity.ACRRank(identity.ACRMFA):
		// The admin pages demand a second factor; a token from a
		// password-only sign-in (issued before the user became an admin,
		// or under a laxer policy) must not be the way round.
		return "the token's sign-in did not use a second factor"
	case p.UserID != "" && !identity.IsFresh(p.AuthTime, a.Now()):
		// As on the pages: a refreshed token keeps its sign-in's time, so
		// a stolen refresh token is not weeks of admin access. Consoles
		// sign in again with max_age.
		return "the token's sign-in is older than " + identity.FreshAuthWindow.String() + ": sign in again"
	}
	return ""
}

// Refusals past refusalBudget within refusalWindow are logged, not
// recorded.
const (
	refusalBudget = 100
	refusalWindow = 10 * time.Minute
)

func (a *API) deny(w http.ResponseWriter, r *http.Request, actor manage.Actor, op, reason string) {
	record := true
	if a.Refusals != nil {
		d, err := a.Refusals.Fail(r.Context(), "admin-refusals:"+actor.ID, throttle.Policy{Window: refusalWindow}, a.Now())
		if err != nil {
			a.Log.WarnContext(r.Context(), "count admin refusals", "err", err)
		}
		record = err != nil || d.Failures <= refusalBudget
		switch {
		case !record && d.Failures == refusalBudget+1:
			// Once per burst: the log must not become the flood either.
			a.Log.WarnContext(r.Context(), "admin API refusals over budget: further ones are logged at debug level, not recorded",
				"actor", actor.ID, "operation", op, "reason", reason, "window", refusalWindow.String())
		case !record:
			a.Log.DebugContext(r.Context(), "admin API refusal not recorded", "actor", actor.ID, "operation", op, "reason", reason)
		}
	}
	if record {
		if err := a.Manage.Deny(r.Context(), actor, op, "", "", reason); !errors.Is(err, manage.ErrForbidden) {
			a.serverError(w, r, "record refusal", err)
			return
		}
	}
	a.problem(w, r, http.StatusForbidden, "forbidden", "Forbidden.", reason)
}

// problem writes an RFC 9457 problem. kind names the problem type.
// WriteTooManyRequests is the admin API's answer over a budget (the
// headers, Retry-After included, are already set), per administrator here
// and per address in the server's limits.
func WriteTooManyRequests(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, http.StatusTooManyRequests, "too-many-requests", "Too many requests.", "Retry after the number of seconds in Retry-After.")
}

func (a *API) problem(w http.ResponseWriter, r *http.Request, status int, kind, title, detail string) {
	writeProblem(w, r, status, kind, title, detail)
}

// writeProblem writes an RFC 9457 problem.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, kind, title, detail string) {
	body := map[string]any{
		"type":   "urn:portero:problem:" + kind,
		"title":  title,
		"status": status,
	}
	if detail != "" {
		body["detail"] = detail
	}
	body["instance"] = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *API) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.Log.ErrorContext(r.Context(), what, "err", err)
	if errors.Is(err, identity.ErrUnavailable) {
		w.Header().Set("Retry-After", render.RetryAfter)
		a.problem(w, r, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable.", "Try again shortly.")
		return
	}
	a.problem(w, r, http.StatusInternalServerError, "server-error", "Internal error.", "")
}

// fail answers for an error from the service: the error's kind decides
// the status, its code the problem type, what wraps it the detail.
func (c *call) fail(a *API, err error) {
	kind := identity.ErrorKind(err)
	status, ok := problemStatus[kind]
	if !ok {
		a.serverError(c.w, c.r, "admin api", err)
		return
	}
	title, detail := problemTitle[kind], identity.Detail(err)
	switch {
	case kind == identity.KindPrecondition:
		detail = "Fetch it again and retry with its new ETag."
	case detail == "" && kind != identity.KindNotFound:
		// A refusal without a wrapper: its own words are the detail.
		detail = err.Error()
	}
	a.problem(c.w, c.r, status, identity.ErrorCode(err), title, detail)
}

// The admin API's answer to each kind of refusal (KindNone and
// KindUnavailable are serverError's).
var (
	problemStatus = map[identity.Kind]int{
		identity.KindInvalid:      http.StatusUnprocessableEntity,
		identity.KindNotFound:     http.StatusNotFound,
		identity.KindConflict:     http.StatusConflict,
		identity.KindForbidden:    http.StatusForbidden,
		identity.KindPrecondition: http.StatusPreconditionFailed,
	}
	problemTitle = map[identity.Kind]string{
		identity.KindInvalid:      "The request breaks a rule.",
		identity.KindNotFound:     "No such resource.",
		identity.KindConflict:     "The request cannot be done in the resource's state.",
		identity.KindForbidden:    "Forbidden.",
		identity.KindPrecondition: "The resource changed since it was read.",
	}
)

// write sends v as JSON with its ETag.
func (c *call) write(status int, v any) { c.writeTagged(status, v, nil) }

// writeTagged sends v as JSON with the ETag of tagged, the representation
// an If-Match is checked against (a request without its history, a client
// without its one-time secret); nil tags v itself.
func (c *call) writeTagged(status int, v, tagged any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(c.w, "encode", http.StatusInternalServerError)
		return
	}
	tag := b
	if tagged != nil {
		if tag, err = json.Marshal(tagged); err != nil {
			http.Error(c.w, "encode", http.StatusInternalServerError)
			return
		}
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("ETag", etagOf(tag))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(append(b, '\n'))
}

// etagOf is the strong ETag of a representation.
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// requireETag answers 428 unless If-Match names strong ETags: where a
// change must be based on the representation as read, "*" (any current
// representation) and weak tags do not say which one was read.
func (c *call) requireETag(a *API, what string) bool {
	want := strings.TrimSpace(c.r.Header.Get("If-Match"))
	ok := want != "" && want != "*"
	for _, tag := range strings.Split(want, ",") {
		if tag = strings.TrimSpace(tag); !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 2 {
			ok = false
		}
	}
	if !ok {
		a.problem(c.w, c.r, http.StatusPreconditionRequired, "precondition-required",
			"If-Match with the ETag as read is required.", "Send the ETag of the "+what+" as read (not *), so that a concurrent change is not overwritten.")
	}
	return ok
}

// matches checks If-Match against the current representation v: nil when
// there is no If-Match or it names v (or is "*").
func (c *call) matches(v any) error {
	want := c.r.Header.Get("If-Match")
	if want == "" || want == "*" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	current := etagOf(b)
	for _, tag := range strings.Split(want, ",") {
		if strings.TrimSpace(tag) == current {
			return nil
		}
	}
	return manage.ErrPrecondition
}

// decode reads a JSON body into v; it answers and returns false on error.
func (c *call) decode(a *API, v any) bool {
	if ct := c.r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.problem(c.w, c.r, http.StatusUnsupportedMediaType, "unsupported-media-type", "The body must be application/json.", "")
		return false
	}
	// The listener bounds the body (http.max_body_bytes, 413 above it).
	dec := json.NewDecoder(c.r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.problem(c.w, c.r, http.StatusBadRequest, "malformed", "The body is not valid JSON for this operation.", jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return "field " + typeErr.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// timeParam parses an RFC 3339 query parameter.
func timeParam(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, v)
}
