// Command portero is the Portero identity provider: the server and the
// command line to manage it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portero-id/portero/internal/buildinfo"
)

const usage = `Usage: portero [--config FILE] [--json] COMMAND [ARGS]

Server:
  serve [--dev]              run the server
  version                    print the version, commit and Go version (also --version)
  probe [--url U]            exit 0 when U (default: this host's /health/ready) answers 200;
                             the container health check (the image has no shell)
  migrate                    apply pending database migrations
  db grants [--role R] [--schema S]  the SQL for a least-privilege runtime role (PostgreSQL)
  bootstrap --admin-email E  create the first super_admin and print a one-time link

Administration (the admin API's operations, with its guard rails; each change
is a ledger entry whose actor is "cli:<OS user>"; U is a username, e-mail or id):
  clients create --id ID [settings]     prints a generated secret once
  clients update --id ID [settings]     only the settings given change
  clients list [--q TEXT] | get|delete|rotate-secret|disable|enable ID
  users create --username U --email E [--password-stdin] [--roles a,b]
  users list [--q TEXT] [--role R] [--disabled[=false]] [--limit N]
  users get|disable|enable|unlock|reset-mfa|sessions|consents|delete U
  users revoke-sessions (--session ID | --all) U
  roles grant|revoke --user U --role R
  roles define --name N [--description D] [--includes a,b] [--permissions p,q]
  roles delete|get N | roles list
  keys list|rotate [--dev]              needs the system secret
  keys revoke [--dev] KID               a compromised key: replaced now, unpublished
  networks list | deny|allow [--note N] P | remove P
                                        P an address or CIDR range: denied networks are
                                        refused, allowed ones have no address rate limit
  secrets reseal [--dev] [--rotated-at T]
                                        after a system-secret change: re-encrypt what the
                                        old secret sealed; say what still needs it
  tokens revoke [--client ID] [--user U] [--issued-before T]
                                        end every token, code and refresh token selected
  requests list [--status open|S,..] [--kind consulta|reclamo] [--user U] [--limit N]
  requests get ID                       the read is recorded
  requests extend --reason R ID | info --info-needed T ID
  requests answer --answer A ID         answering a deletion request erases the account
  requests refuse --code C --answer A ID | dispute --on|--off ID
  events [--subject U] [--actor A] [--type t,..] [--kind K] [--client C]
         [--since T] [--until T] [--limit N]   search the ledger, newest first

Audit:
  audit verify               check the ledger's hash chain (exit 1 if broken)
  incidents record|list      security incidents and their SIC reporting deadline

Global flags (before the command):
  --config FILE   configuration file (default: portero.yaml if present)
  --json          machine-readable output

Run "portero COMMAND VERB --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portero:", err)
		os.Exit(1)
	}
}

// globals are the flags accepted before the command.
type globals struct {
	configPath string
	json       bool
	env        []string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) error {
	g := &globals{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("portero", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&g.configPath, "config", "", "configuration file")
	fs.BoolVar(&g.json, "json", false, "machine-readable output")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if *showVersion {
		return g.version()
	}
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("no command given")
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "serve":
		return g.serve(ctx, rest)
	case "migrate":
		return g.migrate(ctx, rest)
	case "clients":
		return g.clients(ctx, rest)
	case "users":
		return g.users(ctx, rest)
	case "roles":
		return g.roles(ctx, rest)
	case "keys":
		return g.keys(ctx, rest)
	case "audit":
		return g.audit(ctx, rest)
	case "requests":
		return g.requests(ctx, rest)
	case "events":
		return g.events(ctx, rest)
	case "incidents":
		return g.incidents(ctx, rest)
	case "secrets":
		return g.secrets(ctx, rest)
	case "networks":
		return g.networks(ctx, rest)
	case "tokens":
		return g.tokens(ctx, rest)
	case "db":
		return g.db(ctx, rest)
	case "bootstrap":
		return g.bootstrap(ctx, rest)
	case "version":
		return g.version()
	case "probe":
		return g.probe(ctx, rest)
	case "help":
		fs.Usage()
		return nil
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// version prints which build this is (JSON with --json).
func (g *globals) version() error {
	info := buildinfo.Read()
	if g.json {
		return json.NewEncoder(g.stdout).Encode(info)
	}
	_, err := fmt.Fprintln(g.stdout, info.String())
	return err
}

// subcommand splits "clients create ..." into its verb and arguments.
func subcommand(group string, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%s: missing subcommand (one of %v)", group, verbs)
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("%s: unknown subcommand %q (one of %v)", group, args[0], verbs)
}
