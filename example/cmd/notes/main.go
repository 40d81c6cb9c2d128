// Command notes is the device side of the example notes app: it keeps notes
// in a local SQLite file, works offline, and exchanges changes with a
// notes-server when told to sync.
//
//	notes [-db file] [-server url] [-token jwt] [-user name] [-as syncId] <command> [arguments]
//
// Commands:
//
//	add <message>        add a note and print its id
//	edit <id> <message>  change a note's message
//	done <id>            mark a note done
//	rm <id>              delete a note
//	list                 print the notes, one per line, sorted by id
//	show <id>            print a note as JSON, every field of the app's model
//	set <id> <field> <v> set a field by its JSON name: text as it is, others as JSON
//	attach <id> <path>   attach the file at path to a note (replacing its file)
//	open <id> <out>      write a note's file to out ("-": stdout)
//	sync                 push local changes to the server and pull its changes
//	watch                stay in sync and print the notes each time they change
//
// list prints "<id> [x] <message>" for done notes and "<id> [ ] <message>"
// otherwise, followed by " [file <name>, <n> bytes]" for a note with a file,
// and nothing else, so the lists of two devices compare line by line.
//
// attach keeps the file's content beside the database (-db plus ".blobs");
// sync uploads it and downloads the files of the notes it pulls, resuming
// interrupted transfers. open verifies the content against its SHA-256 and
// fetches it from the server when the device does not have it.
//
// # Credentials and users
//
// With -token (default $SSYNC_TOKEN), sync sends "Authorization: Bearer
// <token>", the JSON Web Token notes-server verifies (notes-server
// -mint-token makes one for development). The notes belong to the token's
// user: its sub claim, read here without verifying the signature (the
// server verifies it). -user, when given, must name the same user; it is
// required only for a token that is not a JWT. The token's linked users'
// notes are listed too.
//
// Without a token, the user is -user, $SSYNC_USER or "demo", and sync sends
// it in the X-Ssync-User header, which only a notes-server started with
// -insecure-dev trusts.
//
// -as <syncId> decides who owns the notes added: a linked user instead of
// the signed-in one. The notes of every linked user are listed and can be
// edited without it. With a JWT, its linked claim must list the user;
// without a token, sync sends the user in X-Ssync-Linked.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the device database's driver
	"github.com/ssync-go/ssync/runtime/wire"
)

// Exit codes of run.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// defaultUser is the user when neither -user nor SSYNC_USER says otherwise.
const defaultUser = "demo"

const usageText = `usage: notes [-db file] [-server url] [-token jwt] [-user name] [-as syncId] [-v] <command> [arguments]

commands:
  add <message>        add a note and print its id
  edit <id> <message>  change a note's message
  done <id>            mark a note done
  rm <id>              delete a note
  list                 print "<id> [x] <message>" (done) or "<id> [ ] <message>" per note, sorted by id,
                       then " [file <name>, <n> bytes]" for a note with a file
  show <id>            print a note as one JSON object: every field this app's model has
  set <id> <field> <v> set a field by its JSON name (as show prints it): a text field to v
                       as it is, any other to the JSON value v (5, true, null)
  attach <id> <path>   attach the file at path to a note (sync uploads it)
  open <id> <out>      write a note's file to the file out, or to stdout with "-"
  sync [-log level]     push local changes to the server, pull the server's changes
                       (prints per-table counts: +created ~updated -deleted); -log
                       fields lists each row's sync fields, -log full each row
                       in full; progress goes to stderr (a bar on a terminal)
  watch                stay in sync with the server (local changes pushed within a moment,
                       the server's announced at once) and print the list, then an empty
                       line, now and each time the notes change; stops on Ctrl-C

flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line; run reports it with the
// usage text and exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// config is the parsed command line.
type config struct {
	dbPath    string
	serverURL string
	// token is the bearer token; empty means the X-Ssync-User header.
	token string
	// user is the authenticated user: the token's, or -user's.
	user string
	// as is the user the device acts for: user, or -as's linked user.
	as string
	// linked are the users whose notes user may also see (from the token).
	linked  []string
	verbose bool
	command string
	args    []string
}

// run executes one notes command and returns the process exit code: 0 on
// success, 1 on failure, 2 on bad usage. Results go to stdout, errors and
// logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	var cfg config
	var user string
	fs.StringVar(&cfg.dbPath, "db", "notes.db", "local SQLite database `file` of this device")
	fs.StringVar(&cfg.serverURL, "server", "http://127.0.0.1:8080", "notes-server `url`, used by sync")
	// The token's default is read after parsing, so that usage never
	// prints it.
	fs.StringVar(&cfg.token, "token", "", "bearer `jwt` sync authenticates with (default $SSYNC_TOKEN)")
	fs.StringVar(&user, "user", os.Getenv("SSYNC_USER"), "`name` of the user the notes belong to; default the token's user, else $SSYNC_USER, else \""+defaultUser+"\"")
	fs.StringVar(&cfg.as, "as", "", "add notes for the linked user `syncId` (they belong to it); linked users' notes are listed and editable without it")
	fs.BoolVar(&cfg.verbose, "v", false, "log sync details to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "notes: missing command")
		fs.Usage()
		return exitUsage
	}
	cfg.command, cfg.args = fs.Arg(0), fs.Args()[1:]

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["token"] {
		cfg.token = os.Getenv("SSYNC_TOKEN")
	}
	userSet := set["user"]
	var err error
	if userSet && strings.TrimSpace(user) == "" {
		err = usagef("-user is empty")
	} else {
		err = resolveUser(&cfg, user)
	}
	if err == nil {
		err = execute(ctx, cfg, stdout, stderr)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "notes: %v\n", err)
		fs.Usage()
		return exitUsage
	default:
		fmt.Fprintf(stderr, "notes: %v\n", err)
		return exitError
	}
}

// tokenClaims are the claims of a bearer token the CLI reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Linked []string `json:"linked,omitempty"`
}

// readToken returns the user and linked users a JWT names, without
// verifying it: the server does that, and the CLI only needs to know whose
// notes it keeps.
func readToken(token string) (user string, linked []string, err error) {
	var claims tokenClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return "", nil, err
	}
	if strings.TrimSpace(claims.Subject) == "" {
		return "", nil, errors.New("it has no sub claim")
	}
	return claims.Subject, claims.Linked, nil
}

// resolveUser sets cfg.user, cfg.as and cfg.linked from the token and the
// -user value (flag or $SSYNC_USER; empty when neither is set).
func resolveUser(cfg *config, user string) error {
	// The server trims the user header; trim here too so that rows are
	// owned by exactly the user the server sees.
	user = strings.TrimSpace(user)
	cfg.token = strings.TrimSpace(cfg.token)
	cfg.as = strings.TrimSpace(cfg.as)
	if cfg.token == "" {
		if user == "" {
			user = defaultUser
		}
		cfg.user = user
	} else {
		sub, linked, err := readToken(cfg.token)
		switch {
		case err != nil && user == "":
			return fmt.Errorf("-token is not a JSON Web Token (%v): use the token `notes-server -mint-token <user>` prints, "+
				"or, for a token of another kind that the server accepts, name its user with -user", err)
		case err != nil:
			// Not a JWT: an opaque token for another authenticator.
			cfg.user = user
		case user != "" && user != sub:
			return fmt.Errorf("-user %q is not the token's user %q (to add notes for a linked user, use -as)", user, sub)
		default:
			cfg.user, cfg.linked = sub, linked
			if cfg.as != "" && cfg.as != sub && !slices.Contains(linked, cfg.as) {
				return fmt.Errorf("-as %q: the token does not link %q to %q", cfg.as, sub, cfg.as)
			}
		}
	}
	if cfg.as == "" {
		cfg.as = cfg.user
	}
	return nil
}

// scope returns the signed-in user and the users it is linked to on this
// device: the token's linked users, and the -as user.
func (cfg config) scope() (user string, linked []string) {
	for _, u := range append(slices.Clone(cfg.linked), cfg.as) {
		if u != "" && u != cfg.user && !slices.Contains(linked, u) {
			linked = append(linked, u)
		}
	}
	return cfg.user, linked
}

// execute checks the command's arguments, opens the device database and
// runs the command.
func execute(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	if cfg.user == "" {
		return usagef("-user is empty")
	}
	if cfg.dbPath == "" {
		return usagef("-db is empty")
	}
	cmd, err := parseCommand(cfg.command, cfg.args)
	if err != nil {
		return err
	}

	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	db, err := client.Open(ctx, cfg.dbPath, generated.Registry(), client.Options{Logger: logger, SchemaVersion: generated.SchemaVersion})
	if err != nil {
		return err
	}
	defer db.Close()
	user, linked := cfg.scope()
	if curUser, curLinked := db.User(); curUser != user || !slices.Equal(curLinked, linked) {
		if err := db.SetUser(ctx, user, linked...); err != nil {
			return fmt.Errorf("set user %q: %w", user, err)
		}
	}
	if db.ActiveUser() != cfg.as {
		if err := db.SetActiveUser(ctx, cfg.as); err != nil {
			return fmt.Errorf("act for %q: %w", cfg.as, err)
		}
	}
	app := &app{db: db, notes: generated.SyncNotes(db), cfg: cfg, stdout: stdout, stderr: stderr}
	return cmd(ctx, app)
}

// app is what a command works with.
type app struct {
	db     *client.DB
	notes  generated.NoteRepo
	cfg    config
	stdout io.Writer
	stderr io.Writer
}

// command runs one parsed command.
type command func(ctx context.Context, a *app) error

// parseCommand checks name and its arguments before anything is opened, so
// that usage errors never touch the database.
func parseCommand(name string, args []string) (command, error) {
	switch name {
	case "add":
		if len(args) != 1 {
			return nil, usagef("add takes one argument, the message (quote it): add <message>")
		}
		msg, err := parseMessage(args[0])
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, a *app) error { return a.add(ctx, msg) }, nil
	case "edit":
		if len(args) != 2 {
			return nil, usagef("edit takes two arguments (quote the message): edit <id> <message>")
		}
		id, err := parseID(name, args[0])
		if err != nil {
			return nil, err
		}
		msg, err := parseMessage(args[1])
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, a *app) error { return a.edit(ctx, id, msg) }, nil
	case "done", "rm":
		if len(args) != 1 {
			return nil, usagef("%s takes one argument: %s <id>", name, name)
		}
		id, err := parseID(name, args[0])
		if err != nil {
			return nil, err
		}
		if name == "done" {
			return func(ctx context.Context, a *app) error { return a.done(ctx, id) }, nil
		}
		return func(ctx context.Context, a *app) error { return a.rm(ctx, id) }, nil
	case "attach", "open":
		if len(args) != 2 || args[1] == "" {
			if name == "attach" {
				return nil, usagef("attach takes two arguments: attach <id> <path>")
			}
			return nil, usagef("open takes two arguments: open <id> <out> (out - writes to stdout)")
		}
		id, err := parseID(name, args[0])
		if err != nil {
			return nil, err
		}
		path := args[1]
		if name == "attach" {
			return func(ctx context.Context, a *app) error { return a.attach(ctx, id, path) }, nil
		}
		return func(ctx context.Context, a *app) error { return a.open(ctx, id, path) }, nil
	case "show":
		if len(args) != 1 {
			return nil, usagef("show takes one argument: show <id>")
		}
		id, err := parseID(name, args[0])
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, a *app) error { return a.show(ctx, id) }, nil
	case "set":
		if len(args) != 3 {
			return nil, usagef("set takes three arguments: set <id> <field> <value>")
		}
		id, err := parseID(name, args[0])
		if err != nil {
			return nil, err
		}
		col, err := settable(args[1])
		if err != nil {
			return nil, err
		}
		value, err := fieldValue(col, args[2])
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, a *app) error { return a.set(ctx, id, col, value) }, nil
	case "list":
		if len(args) != 0 {
			return nil, usagef("%s takes no arguments", name)
		}
		return func(ctx context.Context, a *app) error { return a.list(ctx) }, nil
	case "watch":
		if len(args) != 0 {
			return nil, usagef("%s takes no arguments", name)
		}
		return func(ctx context.Context, a *app) error { return a.watch(ctx) }, nil
	case "sync":
		level := client.LogCounts
		switch {
		case len(args) == 0:
		case len(args) == 2 && args[0] == "-log":
			l, err := client.ParseLogLevel(args[1])
			if err != nil {
				return nil, usagef("sync -log: %v", err)
			}
			level = l
		case len(args) == 1 && strings.HasPrefix(args[0], "-log="):
			l, err := client.ParseLogLevel(strings.TrimPrefix(args[0], "-log="))
			if err != nil {
				return nil, usagef("sync -log: %v", err)
			}
			level = l
		default:
			return nil, usagef("sync takes only -log counts|fields|full")
		}
		return func(ctx context.Context, a *app) error { return a.sync(ctx, level) }, nil
	default:
		return nil, usagef("unknown command %q", name)
	}
}

// parseID reads a note id: the full UUID that add and list print.
func parseID(cmd, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, usagef("%s: invalid note id %q: want the full UUID that add and list print", cmd, s)
	}
	return id, nil
}

// parseMessage checks that a message fits on one line of list's output.
func parseMessage(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", usagef("the message must be a single line")
	}
	return s, nil
}

func (a *app) add(ctx context.Context, msg string) error {
	note := &models.Note{Message: msg, UserName: a.cfg.as}
	if err := a.notes.Insert(ctx, note); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	_, err := fmt.Fprintln(a.stdout, note.ID)
	return err
}

// get returns the live note with the given id, or an error naming the
// command and the id when there is none.
func (a *app) get(ctx context.Context, cmd string, id uuid.UUID) (*models.Note, error) {
	note, err := a.notes.Get(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%s: no note %s: %w", cmd, id, client.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return note, nil
}

func (a *app) edit(ctx context.Context, id uuid.UUID, msg string) error {
	note, err := a.get(ctx, "edit", id)
	if err != nil {
		return err
	}
	if note.Message == msg {
		return nil
	}
	note.Message = msg
	if err := a.notes.Update(ctx, note); err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	return nil
}

func (a *app) done(ctx context.Context, id uuid.UUID) error {
	note, err := a.get(ctx, "done", id)
	if err != nil {
		return err
	}
	if note.Completed {
		return nil
	}
	note.Completed = true
	if err := a.notes.Update(ctx, note); err != nil {
		return fmt.Errorf("done: %w", err)
	}
	return nil
}

func (a *app) rm(ctx context.Context, id uuid.UUID) error {
	if err := a.notes.Delete(ctx, id); errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("rm: no note %s: %w", id, client.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	return nil
}

func (a *app) list(ctx context.Context) error {
	notes, err := a.notes.Select(ctx)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	_, err = io.WriteString(a.stdout, formatList(notes))
	return err
}

// watch keeps the device in sync (client.DB.Run) and prints the list, then
// an empty line, now and after every change until ctx ends: changes made
// here or pulled (client.DB.Subscribe), and those other notes commands make
// to the same file, seen by SQLite's data_version (which the pushes and
// pulls of this process move too: a list is printed only when it differs
// from the last one).
func (a *app) watch(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	others := make(chan struct{}, 1)
	live := make(chan error, 1)
	go func() {
		live <- a.db.Run(ctx, client.LiveOptions{Sync: a.syncOptions(), Trigger: others, OnState: func(s client.LiveStatus) {
			if s.State == client.LiveOffline || s.State == client.LiveError {
				fmt.Fprintf(a.stderr, "notes: sync with %s: %v (trying again in %s)\n", a.cfg.serverURL, s.Err, s.RetryIn.Round(time.Millisecond))
			}
		}})
	}()
	err := a.watchList(ctx, others)
	cancel()
	if lerr := <-live; lerr != nil && err == nil {
		err = fmt.Errorf("watch: %w", lerr)
	}
	return err
}

// watchList prints the list whenever it changes, until ctx ends; when the
// file changed under it (another process, or this one's syncs) and the list
// with it, it also asks for a sync on others. A sync that changes nothing
// asks for none.
func (a *app) watchList(ctx context.Context, others chan<- struct{}) error {
	sub := a.db.Subscribe()
	defer sub.Close()
	conn, err := a.db.SQL().Conn(ctx)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer conn.Close()
	version := func() (v int64) {
		conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
		return v
	}
	seen, last, moved := version(), "\x00", false
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		notes, err := a.notes.Select(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		if text := formatList(notes); text != last {
			if _, err := io.WriteString(a.stdout, text+"\n"); err != nil {
				return err
			}
			last = text
			if moved {
				select {
				case others <- struct{}{}:
				default:
				}
			}
		}
		moved = false
		for changed := false; !changed; {
			select {
			case <-ctx.Done():
				return nil
			case <-sub.Ready():
				_, changed = sub.Take()
			case <-tick.C:
				if v := version(); v != seen {
					seen, changed, moved = v, true, true
				}
			}
		}
	}
}

// formatList is list's output for notes.
func formatList(notes []*models.Note) string {
	// Creation times come from each device's clock; ids are the same
	// everywhere, so sorting by id gives every device the same order.
	slices.SortFunc(notes, func(x, y *models.Note) int { return bytes.Compare(x.ID[:], y.ID[:]) })
	var b strings.Builder
	for _, n := range notes {
		mark := "[ ]"
		if n.Completed {
			mark = "[x]"
		}
		fmt.Fprintf(&b, "%s %s %s", n.ID, mark, n.Message)
		if n.File != nil {
			fmt.Fprintf(&b, " [file %s, %d bytes]", n.File.Name, n.File.Size)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// syncOptions says how to reach the server: for sync, and for open when
// the file is not on this device.
func (a *app) syncOptions() client.SyncOptions {
	cfg := a.cfg
	return client.SyncOptions{
		ServerURL: cfg.serverURL,
		// File transfers use the client without its timeout: they stop
		// when no byte moves, and resume.
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Decorate: func(r *http.Request) error {
			if cfg.token != "" {
				r.Header.Set("Authorization", "Bearer "+cfg.token)
				return nil
			}
			// Development servers (-insecure-dev) trust these headers.
			r.Header.Set(wire.HeaderUser, cfg.user)
			if cfg.as != cfg.user {
				r.Header.Set(wire.HeaderLinked, cfg.as)
			}
			return nil
		},
	}
}

func (a *app) sync(ctx context.Context, level client.LogLevel) error {
	bar := newProgressBar(a.stderr)
	opts := a.syncOptions()
	opts.LogLevel = level
	opts.Progress = bar.update
	res, err := a.db.Synchronize(ctx, opts)
	bar.finish()
	if err != nil {
		return fmt.Errorf("sync with %s: %w", a.cfg.serverURL, err)
	}
	if _, err := fmt.Fprintln(a.stdout, summary(res)); err != nil {
		return err
	}
	for _, f := range res.AttachmentFailures {
		if _, err := fmt.Fprintf(a.stdout, "file not downloaded: %s: %v\n", f.Hash, f.Err); err != nil {
			return err
		}
	}
	for _, ig := range res.Ignored {
		if _, err := fmt.Fprintf(a.stdout, "ignored by the server: %s %s (%s) %s\n", ig.Collection, ig.ID, ig.Reason, ig.Message); err != nil {
			return err
		}
	}
	for _, e := range res.Log {
		line := fmt.Sprintf("%s %s %s %s", e.Direction, e.Op, e.Collection, e.ID)
		if e.SyncID != "" {
			line += " owner=" + e.SyncID + " updatedAt=" + e.UpdatedAt.UTC().Format(time.RFC3339Nano)
		}
		if len(e.Data) > 0 {
			line += " " + string(e.Data)
		}
		if _, err := fmt.Fprintln(a.stdout, line); err != nil {
			return err
		}
	}
	return nil
}

// summary is sync's one-line report, e.g.
// "synced: pushed ss_tb_note(+3 ~0 -0); pulled ss_tb_note(+2 ~1 -0); checkpoint 4".
func summary(res *client.Result) string {
	var b strings.Builder
	b.WriteString("synced: pushed ")
	writeCounts(&b, res.Pushed)
	b.WriteString("; pulled ")
	writeCounts(&b, res.Pulled)
	if res.Skipped > 0 {
		fmt.Fprintf(&b, "; kept %d local changes over pulled ones", res.Skipped)
	}
	writeOutOfScope(&b, res.OutOfScope)
	if res.Uploaded > 0 || res.UploadedBytes > 0 {
		fmt.Fprintf(&b, "; uploaded %s (%d bytes)", files(res.Uploaded), res.UploadedBytes)
	}
	if res.Downloaded > 0 {
		fmt.Fprintf(&b, "; downloaded %s (%d bytes)", files(res.Downloaded), res.DownloadedBytes)
	}
	cp := res.Checkpoint
	if cp == "" {
		cp = "none"
	}
	fmt.Fprintf(&b, "; checkpoint %s", cp)
	return b.String()
}

// writeOutOfScope says, per owner, how many local changes the sync could not
// push because the signed-in user may no longer act for their owner (e.g.
// "; not pushed: 2 local changes of bob, whom this user may no longer act
// for").
func writeOutOfScope(b *strings.Builder, out []client.OutOfScope) {
	var owners []string
	rows := map[string]int{}
	for _, o := range out {
		if rows[o.SyncID] == 0 {
			owners = append(owners, o.SyncID)
		}
		rows[o.SyncID] += o.Rows
	}
	for _, owner := range owners {
		changes := "local changes"
		if rows[owner] == 1 {
			changes = "local change"
		}
		fmt.Fprintf(b, "; not pushed: %d %s of %s, whom this user may no longer act for", rows[owner], changes, owner)
	}
}

// writeCounts writes the tables that moved rows, or "nothing".
func writeCounts(b *strings.Builder, counts []client.TableCounts) {
	n := 0
	for _, c := range counts {
		if c.Created+c.Updated+c.Deleted == 0 {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s(+%d ~%d -%d)", c.Collection, c.Created, c.Updated, c.Deleted)
		n++
	}
	if n == 0 {
		b.WriteString("nothing")
	}
}
