package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/docs"
	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/admin"
	"github.com/portero-id/portero/internal/adminapi"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/web"
	"github.com/portero-id/portero/oauth"
)

// mountAdmin builds the administrators' service and mounts the admin
// pages on r and the admin API on r, or on a router of its own when
// http.admin_address is set (served by Run on that address).
func (s *Server) mountAdmin(r *mux.Router, sessions *session.Manager, pages *render.Renderer, site *web.Site, requests *identity.Requests) {
	s.Manage = &manage.Service{
		Store: s.Store, Requests: requests, Keys: s.Keys, Lockouts: s.guard,
		Logout: s.Provider, ClientCache: s.Provider, AllowedScopes: s.cfg.OAuth.AllowedScopes, Now: s.now,
		AccessTokenAlg: oauth.AccessTokenAlg, OnNetworkChange: s.networks.reload,
	}
	if site.Opts.MailEnabled {
		s.Manage.ResetLinks = site
	}
	// Dynamic registration changes clients through the same service.
	s.Provider.Registrar = s.Manage
	(&admin.Admin{Users: s.Store, Manage: s.Manage, Requests: requests, Sessions: sessions, Pages: pages,
		CSRF: site.CSRF, Log: s.log, Now: s.now}).Mount(r)
	api := &adminapi.API{Manage: s.Manage, Requests: requests, Tokens: s.Provider, Spec: docs.OpenAPI,
		Log: s.log, Refusals: s.guard.Store, Now: s.now, Limit: s.limits.adminPrincipal}
	if s.cfg.HTTP.AdminAddress == "" {
		api.Mount(r)
		return
	}
	ar := mux.NewRouter()
	ar.Use(s.observe, s.limits.byAddress)
	api.Mount(ar)
	ar.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusNotFound, `{"error":"not_found"}`)
	})
	s.adminRouter = ar
}
