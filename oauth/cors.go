package oauth

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/rs/cors"

	"github.com/portero-id/portero/internal/requestinfo"
)

// Browser apps (single-page apps, public clients with PKCE) call the
// token, revocation and userinfo endpoints from their own origin, and
// read the discovery document and the JWKS. CORS lets them read those
// answers; nothing else is ever answered to another origin: not the
// authorization endpoint, the pages or introspection, which are for
// browsers navigating and for servers. No endpoint allows credentials
// (cookies): these requests carry a client's or a token's own proof.
//
// The metadata (discovery, JWKS) is public: any origin. The token,
// revocation and userinfo endpoints answer an origin some client
// registered (Client.AllowedOrigins) in the preflight, which has no body
// to name the client; once the handler has identified the client
// (requestinfo), the answer keeps the origin only if that very client
// registered it.

var (
	corsExposed = []string{"WWW-Authenticate", "Retry-After", "RateLimit", "RateLimit-Policy"}
	corsMaxAge  = int((10 * time.Minute).Seconds())
)

// corsMetadata opens the public metadata to every origin.
func corsMetadata(h http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodGet, http.MethodHead},
		MaxAge:         corsMaxAge,
	}).Handler(h)
}

// corsForClients opens h to the origins clients registered.
func (p *Provider) corsForClients(h http.Handler, methods ...string) http.Handler {
	c := cors.New(cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, origin string) (bool, []string) {
			return p.registeredOrigin(r.Context(), origin), nil
		},
		AllowedMethods: methods,
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		ExposedHeaders: corsExposed,
		MaxAge:         corsMaxAge,
	})
	return c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		info := requestinfo.From(ctx)
		if info == nil {
			ctx, info = requestinfo.With(ctx)
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(&clientOrigin{ResponseWriter: w, p: p, r: r, info: info, origin: origin}, r)
	}))
}

// clientOrigin withdraws the CORS allowance, as the answer starts, when
// the client the handler identified did not register the origin.
type clientOrigin struct {
	http.ResponseWriter
	p      *Provider
	r      *http.Request // parsed by the handler by the time the answer starts
	info   *requestinfo.Info
	origin string
	done   bool
}

func (c *clientOrigin) narrow() {
	if c.done {
		return
	}
	c.done = true
	h := c.Header()
	if h.Get("Access-Control-Allow-Origin") == "" {
		return
	}
	// The client the handler identified (a token's, at userinfo), else
	// the one the request names, authenticated or not (an error the app
	// should read, or not).
	id := c.info.ClientID()
	if id == "" && c.r.PostForm != nil {
		id = claimedClientID(c.r)
	}
	if id == "" {
		return // no client named: the registered-origin check stands
	}
	client, err := c.p.Clients.Get(c.r.Context(), id)
	if err != nil || !slices.Contains(client.AllowedOrigins, c.origin) {
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Expose-Headers")
	}
}

func (c *clientOrigin) WriteHeader(status int) {
	c.narrow()
	c.ResponseWriter.WriteHeader(status)
}

func (c *clientOrigin) Write(b []byte) (int, error) {
	c.narrow()
	return c.ResponseWriter.Write(b)
}

func (c *clientOrigin) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// originSet is every origin some client registered, as read at a time.
type originSet struct {
	origins map[string]bool
	until   time.Time
}

// registeredOrigin reports whether some enabled client registered origin.
// The set is read from the clients at most once per client-cache period
// and dropped with the client cache on every change announced; a set that
// cannot be read allows nothing.
func (p *Provider) registeredOrigin(ctx context.Context, origin string) bool {
	now := p.Now()
	if s := p.origins.Load(); s != nil && now.Before(s.until) {
		return s.origins[origin]
	}
	clients, err := p.Store.ListClients(ctx)
	if err != nil {
		p.Log.WarnContext(ctx, "read the clients' allowed origins", "err", err)
		return false
	}
	s := &originSet{origins: map[string]bool{}, until: now.Add(p.Clients.TTL)}
	for _, c := range clients {
		if !c.Disabled {
			for _, o := range c.AllowedOrigins {
				s.origins[o] = true
			}
		}
	}
	p.origins.Store(s)
	return s.origins[origin]
}
