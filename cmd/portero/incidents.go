package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/server"
)

// Security incidents (HABEAS_DATA H10): Ley 1581 art. 17n obliges the
// responsable to report violations of the security codes to the SIC; the
// SIC's instructions give 15 business days from detection. Recording one
// puts it in the ledger with its due date, so the duty cannot be lost.

// incidentRecord is the payload of an "incident.recorded" ledger entry.
type incidentRecord struct {
	DetectedAt  time.Time `json:"detected_at"`
	SICDueAt    time.Time `json:"sic_due_at"`
	Description string    `json:"description"`
}

type incidentView struct {
	Seq         int64     `json:"seq"`
	RecordedAt  time.Time `json:"recorded_at"`
	DetectedAt  time.Time `json:"detected_at"`
	SICDueAt    time.Time `json:"sic_due_at"`
	Overdue     bool      `json:"overdue"`
	Description string    `json:"description"`
}

const incidentType = "incident.recorded"

func (g *globals) incidents(ctx context.Context, args []string) error {
	verb, args, err := subcommand("incidents", args, "record", "list")
	if err != nil {
		return err
	}
	fs := newFlags("incidents "+verb, g)
	detected := fs.String("detected", "", "when the incident was detected (RFC 3339, e.g. 2026-11-20T10:00:00-05:00)")
	description := fs.String("description", "", "what happened (no personal data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, st, _, err := g.openStore(ctx, false, false)
	if err != nil {
		return err
	}
	defer st.Close()
	cal := server.Calendar(cfg)
	now := time.Now()

	if verb == "record" {
		at, err := time.Parse(time.RFC3339, *detected)
		if err != nil {
			return fmt.Errorf("incidents record: --detected: %w", err)
		}
		if strings.TrimSpace(*description) == "" {
			return fmt.Errorf("incidents record: --description is required")
		}
		rec := incidentRecord{DetectedAt: at.UTC(), SICDueAt: cal.IncidentReportDue(at).UTC(), Description: *description}
		payload, _ := json.Marshal(rec)
		e := &identity.LedgerEntry{Kind: identity.LedgerAdmin, Type: incidentType, Actor: cliActor().ID, Payload: payload}
		if err := st.AppendLedger(ctx, e); err != nil {
			return fmt.Errorf("incidents record: %w", err)
		}
		v := incidentView{Seq: e.Seq, RecordedAt: e.OccurredAt, DetectedAt: rec.DetectedAt, SICDueAt: rec.SICDueAt,
			Overdue: now.After(rec.SICDueAt), Description: rec.Description}
		return g.output(v, func() error {
			fmt.Fprintf(g.stdout, "incident %d recorded; report it to the SIC by %s\n", v.Seq,
				v.SICDueAt.In(calendar.Location()).Format("2006-01-02 (Monday)"))
			return nil
		})
	}

	entries, err := st.LedgerEntries(ctx, identity.LedgerFilter{Kind: identity.LedgerAdmin, Types: []string{incidentType}, Limit: identity.LedgerMaxLimit})
	if err != nil {
		return fmt.Errorf("incidents list: %w", err)
	}
	views := []incidentView{}
	for _, e := range entries {
		var rec incidentRecord
		if err := json.Unmarshal(e.Payload, &rec); err != nil {
			return fmt.Errorf("incidents list: entry %d: %w", e.Seq, err)
		}
		views = append(views, incidentView{Seq: e.Seq, RecordedAt: e.OccurredAt, DetectedAt: rec.DetectedAt, SICDueAt: rec.SICDueAt,
			Overdue: now.After(rec.SICDueAt), Description: rec.Description})
	}
	return g.output(views, func() error {
		w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SEQ\tDETECTED\tSIC DUE\tOVERDUE\tDESCRIPTION")
		for _, v := range views {
			fmt.Fprintf(w, "%d\t%s\t%s\t%v\t%s\n", v.Seq, v.DetectedAt.In(calendar.Location()).Format("2006-01-02 15:04"),
				v.SICDueAt.In(calendar.Location()).Format("2006-01-02"), v.Overdue, v.Description)
		}
		return w.Flush()
	})
}
