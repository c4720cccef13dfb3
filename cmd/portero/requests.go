package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/adminview"
)

func (g *globals) printEvents(events []adminview.Event) error {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tTIME\tTYPE\tACTOR\tSUBJECT\tCLIENT\tDETAILS")
	for _, e := range events {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.OccurredAt.Format(time.RFC3339), e.Type, e.Actor,
			e.Subject, e.ClientID, e.Payload)
	}
	return w.Flush()
}

// events searches the ledger, newest first.
func (g *globals) events(ctx context.Context, args []string) error {
	fs := newFlags("events", g)
	subject := fs.String("subject", "", "the user the entry is about (username, e-mail or id; an erased user's id works too)")
	actor := fs.String("actor", "", `who acted, e.g. "cli:root", "admin:<user id>", "client:<client id>"`)
	types := fs.String("type", "", "comma-separated event types, e.g. admin.role_granted,login.failure")
	kind := fs.String("kind", "", "audit, consent, request or admin")
	client := fs.String("client", "", "client id")
	since := fs.String("since", "", "entries at or after this time (RFC 3339)")
	until := fs.String("until", "", "entries before this time (RFC 3339)")
	limit := fs.Int("limit", 50, fmt.Sprintf("at most this many entries (1-%d)", identity.LedgerMaxLimit))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("events: unexpected argument %q", fs.Arg(0))
	}
	if *limit < 1 || *limit > identity.LedgerMaxLimit {
		return fmt.Errorf("events: --limit must be from 1 to %d", identity.LedgerMaxLimit)
	}
	if *kind != "" && !slices.Contains([]string{identity.LedgerAudit, identity.LedgerConsent, identity.LedgerRequest, identity.LedgerAdmin}, *kind) {
		return fmt.Errorf("events: --kind must be audit, consent, request or admin")
	}
	f := identity.LedgerFilter{Actor: *actor, Kind: *kind, ClientID: *client, Types: splitList(*types), Limit: *limit, Newest: true}
	for _, t := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", *since, &f.Since}, {"until", *until, &f.Until}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return fmt.Errorf("events: --%s must be an RFC 3339 time, e.g. 2026-03-16T09:30:00-05:00", t.name)
		}
		*t.dst = at
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	if *subject != "" {
		f.Subject = *subject
		if u, err := a.svc.ResolveUser(ctx, *subject); err == nil {
			f.Subject = u.ID
		} else if !errors.Is(err, identity.ErrNotFound) {
			return explain("events", err)
		}
	}
	entries, err := a.svc.Events(ctx, f)
	if err != nil {
		return explain("events", err)
	}
	views := []adminview.Event{}
	for i := range entries {
		views = append(views, adminview.EventOf(&entries[i]))
	}
	return g.output(views, func() error { return g.printEvents(views) })
}

// due is the request's effective due date.
func due(v *adminview.DataRequest) time.Time {
	if v.ExtendedDueAt != nil {
		return *v.ExtendedDueAt
	}
	return v.DueAt
}

// printRequest shows a request, with its history when given.
func (g *globals) printRequest(v adminview.DataRequest, history []adminview.Event) error {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id\t%s\n", v.ID)
	fmt.Fprintf(w, "user\t%s\n", v.UserID)
	fmt.Fprintf(w, "kind / type\t%s / %s\n", v.Kind, v.Type)
	fmt.Fprintf(w, "status\t%s\n", v.Status)
	fmt.Fprintf(w, "received\t%s\n", v.ReceivedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "due\t%s\n", due(&v).Format(time.RFC3339))
	if v.ExtensionReason != "" {
		fmt.Fprintf(w, "extended because\t%s\n", v.ExtensionReason)
	}
	if v.InfoNeeded != "" {
		fmt.Fprintf(w, "info needed\t%s\n", v.InfoNeeded)
	}
	if v.InfoProvided != "" {
		fmt.Fprintf(w, "info provided\t%s\n", v.InfoProvided)
	}
	fmt.Fprintf(w, "judicial dispute\t%v\n", v.JudicialDispute)
	fmt.Fprintf(w, "description\t%s\n", v.Description)
	if v.Answer != "" {
		fmt.Fprintf(w, "answer\t%s\n", v.Answer)
	}
	if v.RefusalReason != "" {
		fmt.Fprintf(w, "refused for\t%s\n", v.RefusalReason)
	}
	if err := w.Flush(); err != nil || history == nil {
		return err
	}
	fmt.Fprintln(g.stdout, "\nhistory:")
	return g.printEvents(history)
}

func (g *globals) requests(ctx context.Context, args []string) error {
	verb, args, err := subcommand("requests", args, "list", "get", "extend", "info", "answer", "refuse", "dispute")
	if err != nil {
		return err
	}
	if verb == "list" {
		return g.requestsList(ctx, args)
	}
	cmd := "requests " + verb
	fs := newFlags(cmd, g)
	idFlag := fs.String("id", "", "request id (or give it as the argument)")
	var reason, infoNeeded, answer, code *string
	var on, off *bool
	switch verb {
	case "extend":
		reason = fs.String("reason", "", "why the term is extended (told to the titular; required)")
	case "info":
		infoNeeded = fs.String("info-needed", "", "what is missing from the reclamo (required)")
	case "answer":
		answer = fs.String("answer", "", "the answer sent to the titular (required); answering a deletion request erases the account")
	case "refuse":
		code = fs.String("code", "", "refusal reason code: "+strings.Join(identity.RefusalCodes, ", ")+" (required)")
		answer = fs.String("answer", "", "the explanation sent to the titular (required)")
	case "dispute":
		on = fs.Bool("on", false, "set the judicial-dispute legend")
		off = fs.Bool("off", false, "clear the judicial-dispute legend")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := argOrFlag(cmd, "id", *idFlag, pos)
	if err != nil {
		return err
	}
	if verb == "dispute" && *on == *off {
		return errors.New("requests dispute: give either --on or --off")
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	by := a.actor.RequestActor()
	req := a.svc.Requests
	// A change and its ledger entry land even if the command is
	// interrupted half-way, as through the API.
	wctx := context.WithoutCancel(ctx)
	var d *identity.DataRequest
	switch verb {
	case "get":
		// The read is recorded (admin.request_viewed), as on the pages.
		if d, err = req.Get(ctx, id); err == nil {
			err = req.RecordView(ctx, by, d)
		}
		if err != nil {
			return explain(cmd, err)
		}
		history, err := req.History(ctx, d)
		if err != nil {
			return explain(cmd, err)
		}
		v := adminview.DataRequestDetailOf(d, history)
		return g.output(v, func() error { return g.printRequest(v.DataRequest, v.History) })
	case "extend":
		d, err = req.Extend(wctx, by, id, *reason)
	case "info":
		d, err = req.RequestInfo(wctx, by, id, *infoNeeded)
	case "answer":
		// Answering a supresión carries it out (Ley 1581 art. 8e), as the
		// admin API does, in the same transaction.
		if d, err = a.svc.AnswerRequest(wctx, a.actor, id, *answer); err == nil && d.Type == identity.RequestDelete {
			fmt.Fprintf(g.stderr, "account %s erased (the ledger keeps its entries)\n", d.UserID)
		}
	case "refuse":
		d, err = req.Refuse(wctx, by, id, *code, *answer)
	case "dispute":
		d, err = req.SetJudicialDispute(wctx, by, id, *on)
		if errors.Is(err, identity.ErrNoChange) {
			d, err = req.Get(ctx, id)
		}
	}
	if err != nil {
		return explain(cmd, err)
	}
	v := adminview.DataRequestOf(d)
	return g.output(v, func() error { return g.printRequest(v, nil) })
}

func (g *globals) requestsList(ctx context.Context, args []string) error {
	fs := newFlags("requests list", g)
	status := fs.String("status", "", `comma-separated statuses; "open" = received,info_requested,extended (`+
		strings.Join(identity.RequestStatuses, ", ")+")")
	kind := fs.String("kind", "", "consulta or reclamo")
	userRef := fs.String("user", "", "only this titular's requests (username, e-mail or id)")
	limit := fs.Int("limit", identity.DataRequestDefaultLimit, fmt.Sprintf("at most this many (1-%d)", identity.DataRequestMaxLimit))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("requests list: unexpected argument %q", fs.Arg(0))
	}
	if *limit < 1 || *limit > identity.DataRequestMaxLimit {
		return fmt.Errorf("requests list: --limit must be from 1 to %d", identity.DataRequestMaxLimit)
	}
	if *kind != "" && *kind != identity.RequestConsulta && *kind != identity.RequestReclamo {
		return errors.New("requests list: --kind must be consulta or reclamo")
	}
	f := identity.DataRequestFilter{Kind: *kind, Limit: *limit}
	for _, s := range splitList(*status) {
		switch {
		case s == "open":
			f.Statuses = append(f.Statuses, identity.RequestReceived, identity.RequestInfoRequested, identity.RequestExtended)
		case slices.Contains(identity.RequestStatuses, s):
			f.Statuses = append(f.Statuses, s)
		default:
			return fmt.Errorf("requests list: unknown status %q", s)
		}
	}
	a, err := g.manage(ctx, adminOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	if *userRef != "" {
		f.UserID = *userRef
		if u, err := a.svc.ResolveUser(ctx, *userRef); err == nil {
			f.UserID = u.ID
		} else if !errors.Is(err, identity.ErrNotFound) {
			return explain("requests list", err)
		}
	}
	rs, err := a.svc.Requests.Queue(ctx, f)
	if err != nil {
		return explain("requests list", err)
	}
	views := []adminview.DataRequest{}
	for i := range rs {
		views = append(views, adminview.DataRequestOf(&rs[i]))
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tTYPE\tSTATUS\tDUE\tUSER")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Kind, v.Type, v.Status, due(&v).Format("2006-01-02"), v.UserID)
		}
		return w.Flush()
	})
}
