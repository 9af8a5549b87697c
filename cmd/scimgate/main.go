// Command scimgate is the identity-aware gateway: it accepts users and
// groups from identity providers over SCIM 2.0 and keeps them in its
// store. main only parses flags and wires packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/internal/logfmt"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

const usage = `scimgate: an identity-aware gateway fed by SCIM 2.0

Usage:
  scimgate serve --config FILE                     run the server
  scimgate scim-token create --config FILE --tenant NAME [--description D] [--ttl DURATION]
  scimgate scim-token list --config FILE [--tenant NAME]
  scimgate scim-token revoke --config FILE ID
  scimgate access-token create --config FILE --user USERNAME [--tenant T] [--ttl DURATION] [--description D]
  scimgate access-token list --config FILE [--user USERNAME] [--tenant T]
  scimgate access-token revoke --config FILE ID
  scimgate policy check --config FILE
  scimgate policy explain --config FILE [--user USERNAME] [--tenant T] [--method GET] --url URL
  scimgate sessions list --config FILE --user USERNAME [--tenant T]
  scimgate sessions revoke --config FILE --user USERNAME [--tenant T]
  scimgate audit verify --config FILE [--head STREAM:SEQ:HASH ...] [--index] [--json]
  scimgate audit log --config FILE [--since T] [--until T] [--user U] [--route R] [--limit N] [--json]
  scimgate access who --config FILE --route NAME --at TIME [--json]
  scimgate access history --config FILE --user USERNAME [--route NAME] [--json]
  scimgate admin-token create                       a token for the admin listener's audit endpoints
  scimgate whoami [--listen ADDR] [--jwks URL]          a demo upstream that shows what it receives
  scimgate version

Commands that take --config FILE also take --store sqlite:PATH instead
(or to override the file's store). Run "scimgate COMMAND -h" for a
command's flags.
`

// errUsage marks errors caused by how the command was invoked (exit 2).
var errUsage = errors.New("usage")

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "scimgate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "scim-token":
		return scimToken(ctx, args[1:], stdout, stderr)
	case "access-token":
		return accessToken(ctx, args[1:], stdout, stderr)
	case "policy":
		return policyCmd(ctx, args[1:], stdout, stderr)
	case "whoami":
		return whoami(ctx, args[1:], stdout, stderr)
	case "sessions":
		return sessionsCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], stdout, stderr)
	case "access":
		return accessCmd(ctx, args[1:], stdout, stderr)
	case "admin-token":
		return adminToken(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// newFlagSet returns a flag set that writes its usage to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("scimgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// flags returns a flag set with a --config flag.
func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlagSet(name, stderr)
	return fs, fs.String("config", "", "configuration file (YAML)")
}

// source is where the state commands find the store: a configuration
// file, or the store alone (--store), e.g. the store of a Caddy that runs
// scimgate without a configuration file.
type source struct{ config, store string }

// stateFlags returns a flag set with --config and --store flags.
func stateFlags(name string, stderr io.Writer) (*flag.FlagSet, *source) {
	fs, src := newFlagSet(name, stderr), &source{}
	fs.StringVar(&src.config, "config", "", "configuration file (YAML)")
	fs.StringVar(&src.store, "store", "", `the store ("sqlite:PATH") when there is no configuration file; overrides the file's store`)
	return fs, src
}

// parse parses flags and refuses arguments that are not flags: an
// unquoted value with a space ("--description Okta production") must not
// quietly lose its second word.
func parse(fs *flag.FlagSet, args []string) error { return parseArgs(fs, args, 0) }

// parseArgs parses flags followed by exactly n arguments.
func parseArgs(fs *flag.FlagSet, args []string, n int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > n {
		return fmt.Errorf("%w: unexpected argument %q (put flags before arguments, and quote values with spaces)", errUsage, fs.Arg(n))
	}
	if fs.NArg() < n {
		return fmt.Errorf("%w: %s needs %d argument(s)", errUsage, fs.Name(), n)
	}
	return nil
}

// ttlFlag defines --ttl: whole days ("30d") or a Go duration ("12h").
func ttlFlag(fs *flag.FlagSet, help string) *time.Duration {
	d := new(time.Duration)
	fs.Func("ttl", help, func(s string) error {
		v, err := config.ParseAge(s)
		if err != nil {
			return fmt.Errorf("--ttl takes whole days such as 30d, or a duration such as 12h (%v)", err)
		}
		*d = v
		return nil
	})
	return d
}

// tenantFlag returns a trimmed --tenant value, required unless optional.
func tenantFlag(v string, optional bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" && !optional {
		return "", fmt.Errorf("%w: --tenant NAME is required", errUsage)
	}
	return v, nil
}

func loadConfig(path string) (*config.Config, error) {
	cfg, _, err := loadConfigFile(path)
	return cfg, err
}

// loadConfigFile is loadConfig that also returns the bytes loaded.
func loadConfigFile(path string) (*config.Config, []byte, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("%w: --config FILE is required (try examples/quickstart.yaml)", errUsage)
	}
	return config.LoadFile(path)
}

// load returns the configuration of the file, or the default one with the
// store named by --store.
func (s *source) load() (*config.Config, error) {
	if s.config == "" && s.store == "" {
		return nil, fmt.Errorf("%w: --config FILE or --store sqlite:PATH is required", errUsage)
	}
	cfg := config.Default()
	if s.config != "" {
		c, err := config.Load(s.config)
		if err != nil {
			return nil, err
		}
		cfg = *c
	}
	if s.store != "" {
		cfg.Store = s.store
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--store: %w", err)
		}
	}
	return &cfg, nil
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	path, err := cfg.SQLitePath()
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Store, err)
	}
	return st, nil
}

// openExisting is open for the commands that only read: a store that
// does not exist yet is an error (a mistyped path), not a new empty one
// that would answer that nobody exists.
func (s *source) openExisting(ctx context.Context) (*config.Config, store.Store, error) {
	cfg, err := s.load()
	if err != nil {
		return nil, nil, err
	}
	if err := storeExists(cfg); err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg)
	return cfg, st, err
}

// storeExists reports a store whose database file is missing.
func storeExists(cfg *config.Config) error {
	path, err := cfg.SQLitePath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store %s does not exist: check store: in the configuration (or --store), or start scimgate serve with it first", cfg.Store)
	}
	return nil
}

// open loads the configuration and opens its store.
func (s *source) open(ctx context.Context) (*config.Config, store.Store, error) {
	cfg, err := s.load()
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// openDirectory loads the configuration and opens its store, for the CLI
// commands that read or change state. Unless create, the store must exist
// already: a mistyped path (or a relative one from another directory)
// would otherwise list nothing from a new, empty store and leave it
// behind.
func openDirectory(ctx context.Context, src *source, log *slog.Logger, create bool) (*config.Config, *directory.Service, func(), error) {
	open := src.openExisting
	if create {
		open = src.open
	}
	cfg, st, err := open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	dir := directory.New(st, directory.Options{Logger: log, MaxResults: cfg.SCIM.MaxResults})
	return cfg, dir, func() { st.Close() }, nil
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	// logfmt writes what slog's handlers would, faster for the access
	// log's lines.
	if c.Format == "json" {
		return slog.New(logfmt.NewJSON(w, opts))
	}
	return slog.New(logfmt.NewText(w, opts))
}

func defaultLog() config.LogConfig { return config.Default().Log }

// settle waits until running servers have read a change this process just
// committed (they poll the change log every snapshot.DefaultPoll), so that
// a revocation is in force when the command returns.
func settle() { time.Sleep(3 * snapshot.DefaultPoll) }

// command is one CLI (sub)command.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// dispatch runs the subcommand args[0] of name.
func dispatch(ctx context.Context, name string, subs map[string]command, order []string, args []string, stdout, stderr io.Writer) error {
	choices := strings.Join(order, ", ")
	if n := len(order); n > 1 {
		choices = strings.Join(order[:n-1], ", ") + " or " + order[n-1]
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: %s needs a subcommand: %s", errUsage, name, choices)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stderr, "%s subcommands: %s. Run \"scimgate %s SUBCOMMAND -h\" for one's flags.\n", name, choices, name)
		return flag.ErrHelp
	}
	sub, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown %s subcommand %q (%s)", errUsage, name, args[0], choices)
	}
	return sub(ctx, args[1:], stdout, stderr)
}

// credentialStatus says whether a token or session is active, revoked or
// expired.
func credentialStatus(revoked, expires, now time.Time) string {
	switch {
	case !revoked.IsZero():
		return "revoked"
	case !expires.IsZero() && !now.Before(expires):
		return "expired"
	}
	return "active"
}
