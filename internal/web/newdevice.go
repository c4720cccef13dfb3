package web

import (
	"net/http"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	mailer "github.com/portero-id/portero/internal/mail"
)

// recentSignIns is how many of an account's last sign-ins a new one is
// compared with, and the account page lists.
const recentSignIns = 50

// noticeNewDevice tells the owner about a sign-in from a device — a
// browser family and network — the account has not signed in from among
// its recent sign-ins: a ledger entry (counted and alerted on like every
// security event), and an e-mail with the link to review and end the
// sessions. An account's first sign-in is no news. Called before the
// sign-in's own entry is appended.
func (s *signInPages) noticeNewDevice(r *http.Request, u *identity.User) {
	ctx := r.Context()
	here := identity.DeviceOf(clientIP(r), r.UserAgent())
	past, err := s.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: u.ID, Kind: identity.LedgerAudit,
		Types: []string{identity.AuditLoginSuccess}, Newest: true, Limit: recentSignIns})
	if err != nil {
		s.Log.WarnContext(ctx, "new-device check skipped", "err", err)
		return
	}
	if len(past) == 0 {
		return
	}
	for _, e := range past {
		if identity.DeviceOf(e.IP, e.UserAgent).Same(here) {
			return
		}
	}
	s.audit(r, identity.AuditNewDevice, u.ID, map[string]string{"device": here.Name(), "network": here.Network})
	if u.Email == "" || u.EmailVerifiedAt == nil || !s.Opts.MailEnabled {
		return
	}
	lang := s.Pages.Lang(r)
	when := s.Now().In(calendar.Location()).Format("2006-01-02 15:04")
	network := here.Network
	if network == "" {
		network = "?"
	}
	s.inBackground(r, "send new-device mail", func(r *http.Request) error {
		return s.Mail.Send(r.Context(), mailer.Message{
			To:      u.Email,
			Subject: s.Pages.T(lang, "mail.new_device.subject"),
			Text:    s.Pages.T(lang, "mail.new_device.text", u.Username, when, here.Name(), network, s.Opts.Issuer+"/account"),
		})
	})
}
