package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/portero-id/portero/internal/buildinfo"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/tracing"
)

// load reads the configuration. Commands that need the system secret or
// serve traffic (strict) run every check; the management commands only
// need the database and skip the secret and issuer rules.
func (g *globals) load(dev, strict bool) (*config.Config, *slog.Logger, error) {
	path, ok := config.Resolve(g.configPath)
	if !ok {
		return nil, nil, fmt.Errorf("config file %q does not exist", g.configPath)
	}
	cfg, err := config.Load(path, g.env)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	log := server.WithRequestIDs(cfg.Log.NewLogger(g.stderr, dev))
	if dev {
		if err := cfg.PrepareDev(log); err != nil {
			return nil, nil, err
		}
	}
	if strict {
		if err := cfg.Validate(dev); err != nil {
			return nil, nil, fmt.Errorf("configuration:\n%w", err)
		}
	}
	return cfg, log, nil
}

// openStore opens (and, as configured, migrates) the database.
func (g *globals) openStore(ctx context.Context, dev, strict bool) (*config.Config, *store.Store, *slog.Logger, error) {
	cfg, log, err := g.load(dev, strict)
	if err != nil {
		return nil, nil, nil, err
	}
	// Only `portero migrate` (and serve, with database.migrate_on_start)
	// changes the schema: an administrator's command never does.
	cfg.Database.MigrateOnStart = false
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	status, err := st.MigrationStatus(ctx)
	if err != nil {
		return nil, nil, nil, errors.Join(err, st.Close())
	}
	if pending := pendingOf(status); len(pending) > 0 {
		return nil, nil, nil, errors.Join(fmt.Errorf("the database schema is %d migration(s) behind this portero (first: %s): run `portero migrate` first",
			len(pending), pending[0].Name), st.Close())
	}
	return cfg, st, log, nil
}

func pendingOf(status []store.Migration) []store.Migration {
	var out []store.Migration
	for _, m := range status {
		if !m.Applied {
			out = append(out, m)
		}
	}
	return out
}

// output writes v as JSON with --json, else the text form; text returns
// the error of flushing its table, so that a failed write is not a success.
func (g *globals) output(v any, text func() error) error {
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text()
}

func newFlags(name string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	fs.BoolVar(&g.json, "json", g.json, "machine-readable output")
	return fs
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitList splits "a,b c" on commas and spaces.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func (g *globals) serve(ctx context.Context, args []string) error {
	fs := newFlags("serve", g)
	dev := fs.Bool("dev", false, "development mode: generate and keep a system secret, allow an http issuer on localhost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := g.load(*dev, true)
	if err != nil {
		return err
	}
	var opts []server.Option
	if *dev {
		log.Warn("development mode: not for production", "issuer", cfg.Issuer)
		opts = append(opts, server.Dev())
	}
	tuneGC(log)
	start := time.Now()
	build := buildinfo.Read()
	tp, stopTracing, err := tracing.Provider(ctx, cfg.Tracing, build.Version)
	if err != nil {
		return err
	}
	defer func() {
		// Flush the last spans; bounded, the process is going away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}()
	if cfg.Tracing.Endpoint != "" {
		opts = append(opts, server.WithTracerProvider(tp))
		log.Info("tracing", "sample_percent", cfg.Tracing.SamplePercent)
	}
	srv, err := server.New(ctx, cfg, log, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	if owns, err := srv.Store.OwnsTables(ctx); err != nil {
		log.Warn("cannot tell who owns the tables", "err", err)
	} else if owns {
		log.Warn("the database role owns Portero's tables (or is a superuser): it could disable the ledger's append-only triggers; " +
			"run the servers as a runtime role (portero db grants, docs/operations.md)")
	}
	return srv.Run(ctx, func(net.Addr) {
		log.Info("ready", "startup", time.Since(start).String(), "version", build.Version, "commit", build.Commit)
	})
}

// tuneGC trades memory for CPU where the operator has not chosen: Portero's
// live heap is a few MB, so Go's default GOGC=100 collects very often; at
// 400 the GC share of a request fell from ~15 % to ~4 % and peak RSS stayed
// near 60 MB (docs/benchmarks.md). The soft memory limit keeps bursts of
// argon2id hashing (19 MiB each) from growing the heap fivefold.
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
	// SetMemoryLimit with a negative value reads the limit without changing it.
	log.Debug("garbage collector", "gogc_env", os.Getenv("GOGC"), "memory_limit", debug.SetMemoryLimit(-1))
}

func (g *globals) migrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate", g)
	plan := fs.Bool("plan", false, "print the pending migrations and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := g.load(false, false)
	if err != nil {
		return err
	}
	cfg.Database.MigrateOnStart = false
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	before, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	pending := pendingOf(before)
	if !*plan && len(pending) > 0 {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	after, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	return g.output(after, func() error {
		switch {
		case len(pending) == 0:
			fmt.Fprintf(g.stdout, "the schema is up to date (%d migrations applied)\n", len(after))
		case *plan:
			fmt.Fprintf(g.stdout, "%d migration(s) to apply (nothing changed; run without --plan to apply):\n", len(pending))
		default:
			fmt.Fprintf(g.stdout, "applied %d migration(s):\n", len(pending))
		}
		for _, m := range pending {
			fmt.Fprintf(g.stdout, "  %05d  %s\n", m.Version, m.Name)
		}
		return nil
	})
}
