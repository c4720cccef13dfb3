package server

import (
	"context"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/web"
)

// dataRequestsInterval is how often the request gauges are refreshed and
// expired reclamos closed.
const dataRequestsInterval = 10 * time.Minute

// dataRequests is the data-subject request service with its gauges and
// the state of the daily log line.
type dataRequests struct {
	svc     *identity.Requests
	overdue *prometheus.GaugeVec
	dueSoon *prometheus.GaugeVec
	open    *prometheus.GaugeVec

	mu sync.Mutex // one refresh at a time
	// loggedDay is the Colombian date of the last daily log line.
	loggedDay string
}

// mountDataRequests builds the request service (statutory holidays of
// package calendar plus legal.extra_holidays), gives it to the titular's pages and to the
// administrators' (mountAdmin), and registers the gauges.
func (s *Server) mountDataRequests(r *mux.Router, reg prometheus.Registerer, sessions *session.Manager,
	pages *render.Renderer, site *web.Site) *dataRequests {
	d := &dataRequests{
		svc: &identity.Requests{Store: s.Store, Calendar: Calendar(s.cfg), Now: s.now},
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portero_data_requests_overdue",
			Help: "Data-subject requests (consultas, reclamos) whose legal term has passed without an answer, by kind.",
		}, []string{"kind"}),
		dueSoon: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portero_data_requests_due_soon",
			Help: "Data-subject requests due today or within 2 business days, not yet answered, by kind.",
		}, []string{"kind"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portero_data_requests_open",
			Help: "Open data-subject requests, including reclamos waiting for the titular's information, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(d.overdue, d.dueSoon, d.open)
	site.Requests = d.svc
	s.mountAdmin(r, sessions, pages, site, d.svc)
	return d
}

// RefreshDataRequests closes the reclamos deemed withdrawn, updates the
// request gauges and, once per Colombian day (and at the first call),
// logs the state of the queue. It runs at start and every 10 minutes.
func (s *Server) RefreshDataRequests(ctx context.Context) (identity.RequestSummary, error) {
	d := s.dataRequests
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, err := d.svc.ExpireDue(ctx); err != nil {
		s.log.WarnContext(ctx, "expire data requests", "err", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "data requests withdrawn after two months without the missing information", "count", n)
	}
	m, err := d.svc.Summary(ctx)
	if err != nil {
		return m, err
	}
	for kind, c := range m.ByKind {
		d.overdue.WithLabelValues(kind).Set(float64(c.Overdue))
		d.dueSoon.WithLabelValues(kind).Set(float64(c.DueSoon))
		d.open.WithLabelValues(kind).Set(float64(c.Open))
	}
	if today := m.At.In(calendar.Location()).Format(time.DateOnly); today != d.loggedDay {
		d.loggedDay = today
		open, soon, late := m.Totals()
		s.log.InfoContext(ctx, m.String(), "open", open, "due_soon", soon, "overdue", late)
	}
	return m, nil
}

// dataRequestsLoop refreshes at start and then every dataRequestsInterval.
func (s *Server) dataRequestsLoop(ctx context.Context) {
	refresh := func() {
		if _, err := s.RefreshDataRequests(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh data request metrics", "err", err)
		}
	}
	refresh()
	every(ctx, dataRequestsInterval, refresh)
}

// Calendar is the business-day calendar: the statutory holidays and the
// configured extra ones (validated with the configuration).
func Calendar(cfg *config.Config) *calendar.Calendar {
	extra, _ := config.Holidays(cfg.Legal.ExtraHolidays)
	var hs []calendar.Holiday
	for _, h := range extra {
		hs = append(hs, calendar.Holiday{Date: h.Date, Name: h.Name})
	}
	return calendar.New(hs)
}
