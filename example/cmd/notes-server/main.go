// Command notes-server serves the ssync API of the example notes app over a
// SQLite store:
//
//	go run ./example/cmd/notes-server -addr 127.0.0.1:8080 -db notes-server.db
//
// The API is mounted under /api/sync (pull and push) with a health check at
// /healthz. Once the socket is open it prints one line,
// "notes-server listening on http://ADDR", to stderr; with -addr
// 127.0.0.1:0 the kernel picks a free port and ADDR shows it. Logs go to
// stderr as structured text. SIGINT or SIGTERM shut the server down
// gracefully.
//
// Requests are authenticated with server.InsecureHeaderAuth: the user is
// whatever the X-Ssync-User header says. That is for development only —
// anyone who can reach the server can read and write any user's notes.
// A real deployment supplies its own server.Authenticator.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3" // the store is SQLite

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/server"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a shutdown signal.
const shutdownTimeout = 15 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, serves until ctx is done and returns the exit code: 0
// after a clean shutdown, 1 on failure, 2 on bad usage.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("notes-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free port)")
	dbPath := fs.String("db", "notes-server.db", "SQLite database `file` of the store (a \"sqlite:\" prefix is accepted)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: notes-server [-addr host:port] [-db path]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "notes-server: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	path := strings.TrimPrefix(*dbPath, "sqlite:")
	if path == "" {
		fmt.Fprintln(stderr, "notes-server: -db is empty")
		fs.Usage()
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, logger, *addr, path, stderr); err != nil {
		logger.Error("notes-server: stopped", "error", err)
		return 1
	}
	return 0
}

// serve opens the store at path, listens on addr and serves the sync API
// until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, logger *slog.Logger, addr, path string, stderr io.Writer) error {
	db, err := sql.Open("sqlite3", server.SQLiteDSN(path))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	store, err := server.OpenStore(ctx, db, server.SQLite(), generated.Registry())
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	api, err := server.New(server.Config{
		Store:         store,
		Authenticator: server.InsecureHeaderAuth(), // development only: trusts X-Ssync-User
		Logger:        logger,
	})
	if err != nil {
		return fmt.Errorf("create server: %w", err)
	}
	mux := http.NewServeMux()
	api.Mount(mux, "")

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
	logger.Warn("notes-server: authentication trusts the " + server.HeaderUser + " header; use it for development only")
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
