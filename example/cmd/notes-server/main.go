// Command notes-server serves the ssync API of the example notes app:
//
//	SSYNC_JWT_SECRET=$(openssl rand -hex 32) notes-server -addr 127.0.0.1:8080 -db notes-server.db
//
// The store is chosen by -db: a file path or sqlite:<path> (SQLite, the
// default), postgres://user:pass@host:port/db?sslmode=disable (PostgreSQL),
// or mysql://user:pass@host:port/db (MariaDB or MySQL).
//
// The API is mounted under /api/sync with a health check at /healthz. Once
// the socket is open it prints one line, "notes-server listening on
// http://ADDR", to stderr; with -addr 127.0.0.1:0 the kernel picks a free
// port and ADDR shows it. Logs go to stderr as structured text. SIGINT or
// SIGTERM shut the server down gracefully.
//
// # Authentication
//
// Requests carry "Authorization: Bearer <token>", an HS256 JSON Web Token
// signed with the secret given by -jwt-secret or, better (command lines are
// visible to other local users), the SSYNC_JWT_SECRET environment variable.
// The secret is used as given, at least 32 bytes. The token's sub claim is
// the user; its linked claim lists the users whose notes the user may also
// read and write (see jwtauth.New).
//
// # Attachments
//
// The content of the notes' attached files is kept in the folder -blobs
// (default: the SQLite file's name plus ".blobs", else notes-server.blobs),
// at most -max-blob bytes each. Content no note references any more is
// removed after -blob-retention; the server checks once an hour.
//
// Several instances over one PostgreSQL or MariaDB database share the
// content through an S3-compatible bucket instead of a folder:
//
//	-blobs 's3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1'
//
// (endpoint only for a server other than AWS S3; see runtime/blob/s3),
// with the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
//
// For development, notes-server mints such tokens and exits:
//
//	notes-server -mint-token alice [-linked bob,carol] [-ttl 24h]
//
// Without a secret the server refuses to start, unless -insecure-dev is
// given: then it trusts the X-Ssync-User header (server.InsecureHeaderAuth),
// so that anyone who can reach it can read and write any user's notes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/dbopen"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/blob/s3"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a shutdown signal.
const shutdownTimeout = 15 * time.Second

// secretEnv names the environment variable that holds the JWT secret when
// -jwt-secret is not given.
const secretEnv = "SSYNC_JWT_SECRET"

// Exit codes of run.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options is the parsed command line.
type options struct {
	addr        string
	db          string
	secret      string
	insecureDev bool
	blobs       string
	maxBlob     int64
	retention   time.Duration
	mintFor     string
	linked      []string
	ttl         time.Duration
	pool        dbopen.Pool
	maxUser     int
	cpuProfile  string
}

// run parses args and either mints a token (printed to stdout) or serves
// until ctx is done. It returns the exit code: 0 after a clean shutdown or
// a minted token, 1 on failure, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("notes-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var linked string
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free port)")
	fs.StringVar(&o.db, "db", "notes-server.db", "the `store`: "+dbopen.Supported)
	fs.StringVar(&o.secret, "jwt-secret", "", "HS256 `secret` (at least 32 bytes) that verifies bearer tokens; default $"+secretEnv)
	fs.BoolVar(&o.insecureDev, "insecure-dev", false, "without a JWT secret, trust the "+wire.HeaderUser+" header (development only: anyone can act as anyone)")
	fs.StringVar(&o.blobs, "blobs", "", "`folder` for the content of attached files (default: the SQLite file plus .blobs, else notes-server.blobs), or s3://bucket/prefix?endpoint=URL&region=R for an S3-compatible bucket (credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.Int64Var(&o.maxBlob, "max-blob", server.DefaultMaxBlobBytes, "largest attached file accepted, in `bytes`")
	fs.DurationVar(&o.retention, "blob-retention", store.DefaultBlobRetention, "how long content no note references is kept, a `duration`")
	fs.IntVar(&o.maxUser, "max-user-requests", 16, "most `requests` of one user served at once (its devices together); more get 429 with Retry-After (0: no limit)")
	pool := dbopen.DefaultPool()
	fs.IntVar(&o.pool.MaxOpen, "max-open-conns", pool.MaxOpen, "most database `connections` open at once (0: no limit); instances over one database share its limit")
	fs.IntVar(&o.pool.MaxIdle, "max-idle-conns", pool.MaxIdle, "database `connections` kept open between requests; below the load's concurrency every burst opens new sessions")
	fs.DurationVar(&o.pool.MaxIdleTime, "conn-max-idle", pool.MaxIdleTime, "close a database connection idle this long, a `duration` (0: never)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file` (for go tool pprof)")
	fs.StringVar(&o.mintFor, "mint-token", "", "print a bearer token for `syncId`, signed with the JWT secret, and exit")
	fs.StringVar(&linked, "linked", "", "with -mint-token: comma-separated `syncIds` the user is linked to")
	fs.DurationVar(&o.ttl, "ttl", 24*time.Hour, "with -mint-token: how long the token is valid, a `duration`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: notes-server [-addr host:port] [-db store] [-jwt-secret secret | -insecure-dev]\n"+
			"       notes-server [-jwt-secret secret] -mint-token syncId [-linked id,...] [-ttl 24h]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "notes-server: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	secretFrom := "-jwt-secret"
	if !set["jwt-secret"] {
		o.secret, secretFrom = os.Getenv(secretEnv), "$"+secretEnv
	}
	for _, l := range strings.Split(linked, ",") {
		if l = strings.TrimSpace(l); l != "" {
			o.linked = append(o.linked, l)
		}
	}

	if set["mint-token"] {
		if strings.TrimSpace(o.mintFor) == "" {
			return usage("-mint-token needs the user's syncId")
		}
		if o.secret == "" {
			return usage("-mint-token needs the JWT secret: set -jwt-secret or %s", secretEnv)
		}
		tok, err := jwtauth.Mint([]byte(o.secret), o.mintFor, o.linked, o.ttl)
		if err != nil {
			return usage("-mint-token: %v", err)
		}
		fmt.Fprintln(stdout, tok)
		return exitOK
	}
	for _, name := range []string{"linked", "ttl"} {
		if set[name] {
			return usage("-%s only goes with -mint-token", name)
		}
	}
	target, err := dbopen.Parse(o.db)
	if err != nil {
		return usage("-db: %v", err)
	}
	if o.blobs == "" {
		o.blobs = "notes-server.blobs"
		if target.Kind == "sqlite" {
			o.blobs = strings.TrimPrefix(o.db, "sqlite:") + ".blobs"
		}
	}
	if strings.HasPrefix(o.blobs, "s3://") {
		if _, err := s3.ParseURL(o.blobs); err != nil {
			return usage("-blobs: %v", err)
		}
	}
	if o.maxBlob <= 0 {
		return usage("-max-blob must be a positive number of bytes")
	}
	if o.retention <= 0 {
		return usage("-blob-retention must be positive")
	}
	if o.maxUser < 0 {
		return usage("-max-user-requests must not be negative")
	}
	if o.pool.MaxOpen < 0 || o.pool.MaxIdle < 0 || o.pool.MaxIdleTime < 0 {
		return usage("-max-open-conns, -max-idle-conns and -conn-max-idle must not be negative")
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	var auth server.Authenticator
	switch {
	case o.secret != "" && o.insecureDev:
		return usage("-insecure-dev and a JWT secret (%s) exclude each other", secretFrom)
	case o.secret != "":
		a, err := jwtauth.New([]byte(o.secret))
		if err != nil {
			return usage("%s: %v", secretFrom, err)
		}
		auth = a
		logger.Info("notes-server: requests need an HS256 bearer token", "secret_from", secretFrom)
	case o.insecureDev:
		auth = server.InsecureHeaderAuth()
		logger.Warn("notes-server: INSECURE: -insecure-dev trusts the " + wire.HeaderUser +
			" header; anyone who can reach this server can read and write any user's notes. Use it for development only.")
	default:
		return usage("no JWT secret: set -jwt-secret or %s (at least 32 bytes, e.g. from `openssl rand -hex 32`), "+
			"or pass -insecure-dev to trust the %s header (development only)", secretEnv, wire.HeaderUser)
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return usage("-cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usage("-cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := serve(ctx, logger, o, target, auth, stderr); err != nil {
		logger.Error("notes-server: stopped", "error", err)
		return exitError
	}
	return exitOK
}

// serve opens the store target names, listens on addr and serves the sync
// API until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, logger *slog.Logger, o options, target dbopen.Target, auth server.Authenticator, stderr io.Writer) error {
	addr := o.addr
	db, err := target.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	o.pool.Apply(db)
	blobs, err := openBlobs(ctx, o.blobs)
	if err != nil {
		return fmt.Errorf("attachment store: %w", err)
	}
	st, err := store.Open(ctx, db, target.Dialect, generated.Registry(),
		store.WithBlobStore(blobs), store.WithBlobRetention(o.retention), store.WithSchemaVersion(generated.SchemaVersion))
	if err != nil {
		return fmt.Errorf("open store %s: %w", target.Display, err)
	}
	logger.Info("notes-server: store open", "store", target.Display, "attachments", o.blobs)
	go purgeBlobs(ctx, logger, st)
	api, err := server.New(server.Config{
		Store:           st,
		Authenticator:   auth,
		Logger:          logger,
		MaxBlobBytes:    o.maxBlob,
		MaxUserRequests: o.maxUser,
	})
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	mux := http.NewServeMux()
	api.Mount(mux, "")
	mux.Handle("GET /healthz", api.Health())

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stderr, "notes-server listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("notes-server: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("notes-server: stopped")
	return nil
}

// openBlobs opens the attachment store -blobs names: an S3 bucket for an
// s3:// URL, else a folder.
func openBlobs(ctx context.Context, where string) (blob.Store, error) {
	if !strings.HasPrefix(where, "s3://") {
		return blob.NewDir(where)
	}
	cfg, err := s3.ParseURL(where)
	if err != nil {
		return nil, err
	}
	return s3.New(ctx, cfg)
}

// purgeBlobs removes unreferenced attachment content once an hour until ctx
// is done.
func purgeBlobs(ctx context.Context, logger *slog.Logger, st *store.Store) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := st.PurgeBlobs(ctx)
		if err != nil {
			logger.Warn("notes-server: purge attachments", "error", err)
			continue
		}
		if rep.Deleted > 0 || rep.Uploads > 0 {
			logger.Info("notes-server: purged attachments", "deleted", rep.Deleted, "bytes", rep.DeletedBytes, "uploads", rep.Uploads)
		}
	}
}
