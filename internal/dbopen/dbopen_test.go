package dbopen

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		spec, kind, driver, dsn, display string
	}{
		{"notes-server.db", "sqlite", "sqlite3", ssqlite.DSN("notes-server.db"), "sqlite:notes-server.db"},
		{"/var/lib/notes/x.db", "sqlite", "sqlite3", ssqlite.DSN("/var/lib/notes/x.db"), "sqlite:/var/lib/notes/x.db"},
		{"./dir with space/x.db", "sqlite", "sqlite3", ssqlite.DSN("./dir with space/x.db"), "sqlite:./dir with space/x.db"},
		{`C:\data\x.db`, "sqlite", "sqlite3", ssqlite.DSN(`C:\data\x.db`), `sqlite:C:\data\x.db`},
		{"sqlite:x.db", "sqlite", "sqlite3", ssqlite.DSN("x.db"), "sqlite:x.db"},
		{"sqlite:/tmp/x.db", "sqlite", "sqlite3", ssqlite.DSN("/tmp/x.db"), "sqlite:/tmp/x.db"},
		{"sqlite:///tmp/x.db", "sqlite", "sqlite3", ssqlite.DSN("/tmp/x.db"), "sqlite:/tmp/x.db"},
		{"SQLite:x.db", "sqlite", "sqlite3", ssqlite.DSN("x.db"), "sqlite:x.db"},
		{"postgres://u:pw@db.example:5433/notes?sslmode=disable", "postgres", "pgx",
			"postgres://u:pw@db.example:5433/notes?sslmode=disable", "postgres://u:xxxxx@db.example:5433/notes?sslmode=disable"},
		{"postgresql://db.example/notes", "postgres", "pgx", "postgresql://db.example/notes", "postgresql://db.example/notes"},
	} {
		got, err := Parse(c.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.spec, err)
			continue
		}
		if got.Kind != c.kind || got.Driver != c.driver || got.DSN != c.dsn || got.Display != c.display || got.Dialect.Name != c.kind {
			t.Errorf("Parse(%q) = %+v\nwant kind %s driver %s dsn %s display %s", c.spec, got, c.kind, c.driver, c.dsn, c.display)
		}
	}
}

func TestParseMySQL(t *testing.T) {
	for _, c := range []struct {
		spec, user, pass, addr, db, display string
		params                              map[string]string
		timeout                             time.Duration
	}{
		{spec: "mysql://root@127.0.0.1/notes", user: "root", addr: "127.0.0.1:3306", db: "notes", display: "mysql://root@127.0.0.1/notes"},
		{spec: "mysql://u:p%40ss%3Aw%2Frd@db.example:3307/notes?timeout=5s&parseTime=false&loc=Local&sql_mode=ANSI",
			user: "u", pass: "p@ss:w/rd", addr: "db.example:3307", db: "notes",
			display: "mysql://u:xxxxx@db.example:3307/notes?timeout=5s&parseTime=false&loc=Local&sql_mode=ANSI",
			params:  map[string]string{"sql_mode": "ANSI"}, timeout: 5 * time.Second},
		{spec: "mariadb://u@[::1]:3306/app", user: "u", addr: "[::1]:3306", db: "app", display: "mariadb://u@[::1]:3306/app"},
		{spec: "mysql://u@h/db?time_zone=%27Europe/Paris%27", user: "u", addr: "h:3306", db: "db", display: "mysql://u@h/db?time_zone=%27Europe/Paris%27",
			params: map[string]string{"time_zone": "'Europe/Paris'"}},
	} {
		got, err := Parse(c.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.spec, err)
			continue
		}
		if got.Kind != "mysql" || got.Driver != "mysql" || got.Dialect.Name != "mysql" || got.Display != c.display {
			t.Errorf("Parse(%q) = %+v", c.spec, got)
		}
		// The DSN is the driver's form and reads back as the URL said, with
		// parseTime and loc forced.
		for _, cfg := range []*mysql.Config{got.mysql, mustParseDSN(t, got.DSN)} {
			if cfg.User != c.user || cfg.Passwd != c.pass || cfg.Net != "tcp" || cfg.Addr != c.addr || cfg.DBName != c.db ||
				!cfg.ParseTime || cfg.Loc != time.UTC || cfg.Timeout != c.timeout {
				t.Errorf("Parse(%q): config %+v", c.spec, cfg)
			}
			for k, v := range c.params {
				if cfg.Params[k] != v {
					t.Errorf("Parse(%q): param %s = %q, want %q", c.spec, k, cfg.Params[k], v)
				}
			}
		}
		if !strings.HasPrefix(got.DSN, c.user) || !strings.Contains(got.DSN, "@tcp("+c.addr+")/"+c.db+"?") {
			t.Errorf("Parse(%q).DSN = %s, want user:pass@tcp(host:port)/db?...", c.spec, got.DSN)
		}
		if c.pass != "" && strings.Contains(got.Display, c.pass) {
			t.Errorf("Display %s shows the password", got.Display)
		}
	}
}

func mustParseDSN(t *testing.T, dsn string) *mysql.Config {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DSN %q does not parse back: %v", dsn, err)
	}
	return cfg
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"", "empty store"},
		{"   ", "empty store"},
		{"sqlite:", "sqlite store: sqlite: names no file"},
		{"sqlite://host/x.db", "sqlite store: sqlite://host/... is not supported"},
		{"postgres:notes", "postgres store: want a URL, postgres://"},
		{"postgresql:notes", "postgresql store: want a URL"},
		{"postgres://u:secretpw@host:nope/db", "postgres store: invalid URL"},
		{"mysql:notes", "mysql store: want a URL, mysql://"},
		{"mysql://u:secretpw@/db", "mysql store: URL names no host"},
		{"mysql://u:secretpw@host", "mysql store: URL must name one database"},
		{"mysql://u:secretpw@host/", "mysql store: URL must name one database"},
		{"mysql://u:secretpw@host/a/b", "mysql store: URL must name one database"},
		{"mysql://u:secretpw@host/db?parseTime=maybe", "mysql store: invalid parameters"},
		{"mysql://u:secretpw@host:99999999999/db", "mysql store: invalid port"},
		{"redis://u:secretpw@localhost/0", `unsupported store scheme "redis:"`},
		{"file:x.db", `unsupported store scheme "file:"`},
	} {
		_, err := Parse(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.spec, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Parse(%q) error shows the password: %v", c.spec, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct{ spec, want string }{
		{filepath.Join(t.TempDir(), "no such dir", "x.db"), "sqlite store sqlite:"},
		{"postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres store postgres://u:xxxxx@127.0.0.1:1/db"},
		{"mysql://u:secretpw@127.0.0.1:1/db?timeout=2s", "mysql store mysql://u:xxxxx@127.0.0.1:1/db"},
	} {
		db, _, err := Open(ctx, c.spec)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", c.spec)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "cannot connect") || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Open(%q) = %v, want an error saying %q ... cannot connect, without the password", c.spec, err, c.want)
		}
	}
}

func randomName(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "ssync_dbopen_" + hex.EncodeToString(b[:])
}

// openStore opens spec and a server store on it, and checks that the store
// answers.
func openStore(t *testing.T, spec, dialect string) {
	t.Helper()
	ctx := t.Context()
	db, d, err := Open(ctx, spec)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if d.Name != dialect {
		t.Fatalf("dialect %s, want %s", d.Name, dialect)
	}
	if _, err := store.Open(ctx, db, d, generated.Registry()); err != nil {
		t.Fatalf("OpenStore on %s: %v", dialect, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ss_tb_note`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("store on %s: %d notes, %v; want an empty table", dialect, n, err)
	}
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.db")
	openStore(t, path, "sqlite")
	openStore(t, "sqlite:"+path, "sqlite")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file: %v", err)
	}
}

// reachable reports whether storetest finds the named backend; storetest
// skips loudly, or fails under SSYNC_REQUIRE_STORES=1, when it does not.
func reachable(t *testing.T, name string) bool {
	for _, b := range storetest.Backends(t) {
		if b.Name == name {
			return true
		}
	}
	t.Skipf("%s unreachable (see the message above)", name)
	return false
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestOpenPostgres(t *testing.T) {
	if !reachable(t, "postgres") {
		return
	}
	base := env("SSYNC_TEST_POSTGRES", storetest.DefaultPostgres)
	// A fresh schema, reached through the URL's search_path.
	admin, _, err := Open(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := randomName(t)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	openStore(t, u.String(), "postgres")
	u.Scheme = "postgresql"
	openStore(t, u.String(), "postgres")
}

func TestOpenMySQL(t *testing.T) {
	if !reachable(t, "mysql") {
		return
	}
	// The tests' setting is in the driver's DSN form; the -db value is a URL.
	cfg, err := mysql.ParseDSN(env("SSYNC_TEST_MYSQL", storetest.DefaultMySQL))
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	} else {
		u.User = url.User(cfg.User)
	}
	admin, _, err := Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// parseTime and loc=UTC are in force: DATETIME reads as a UTC time.Time.
	var now time.Time
	if err := admin.QueryRow(`SELECT UTC_TIMESTAMP(6)`).Scan(&now); err != nil {
		t.Fatalf("scan DATETIME into time.Time: %v", err)
	}
	if now.Location() != time.UTC || time.Since(now).Abs() > time.Hour {
		t.Fatalf("UTC_TIMESTAMP read as %v", now)
	}
	name := randomName(t)
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec("DROP DATABASE " + name)
	u.Path = "/" + name
	u.RawQuery = "timeout=5s"
	openStore(t, u.String(), "mysql")
	u.Scheme = "mariadb"
	openStore(t, u.String(), "mysql")
}
