package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Dialect is what the store needs to know about one SQL database. The
// dialects ssync ships live in the subpackages sqlite, postgres and mysql;
// a new one is a value of this type, built in one file, with no
// regenerated code: the store builds every table from the schema
// description (ssync.Column) and its own tables' description (TableDef)
// through ColumnType and CreateTable, and every upsert through Upsert.
type Dialect struct {
	// Name names the dialect in errors and logs.
	Name string
	// Placeholder returns the bind parameter for argument n (1-based).
	Placeholder func(n int) string
	// Quote quotes an identifier.
	Quote func(name string) string
	// ColumnType spells the type of a column from its description: its
	// storage kind and size, and whether it is indexed.
	ColumnType func(c ssync.Column) string
	// CreateTable, when set, returns the statements that create a table;
	// each must be idempotent, since every server instance runs them at
	// start. Nil writes the SQL that SQLite and PostgreSQL share: CREATE
	// TABLE IF NOT EXISTS with Quote and ColumnType, each foreign key on
	// its column and checked at commit (DEFERRABLE INITIALLY DEFERRED),
	// then CREATE INDEX IF NOT EXISTS per index.
	CreateTable func(t TableDef) []string
	// Upsert, when set, returns the statement that inserts a row of table
	// (one placeholder per column, in order) or, when a row with the same
	// key exists, sets its update columns to the new values; with no update
	// columns it leaves an existing row alone (and affects no row). Nil
	// writes INSERT ... ON CONFLICT (key) DO UPDATE / DO NOTHING, which
	// SQLite and PostgreSQL share.
	Upsert func(table string, columns, key, update []string) string
	// Setup, when set, runs first in Open's setup transaction, before
	// any table is created; for instance a lock that makes server instances
	// starting at the same time set up one after another.
	Setup []string
	// SetupEnd, when set, runs on the setup's connection after its
	// transaction ends, committed or not (it needs SetupBegin): for
	// instance the release of a session lock Setup took.
	SetupEnd []string
	// PullTx are the options of a pull's read transaction: it must see one
	// snapshot for all its statements.
	PullTx *sql.TxOptions
	// SetupBegin, when set, starts Open's setup transaction on one
	// connection instead of database/sql's BEGIN. SQLite needs "BEGIN
	// IMMEDIATE": a deferred transaction that reads a table before creating
	// another cannot take the write lock once another process has written,
	// and fails at once instead of waiting out the busy timeout.
	SetupBegin string
	// BeginPush, when set, is the first statement of every push
	// transaction. SQLite needs a write there: a transaction that reads
	// before its first write cannot take the write lock once another
	// writer has committed.
	BeginPush string
	// NextVersion, when set, bumps the counter in tx and returns its new
	// value, in one round trip: the push holds the counter from here to its
	// commit. Nil uses UPDATE ... RETURNING.
	NextVersion func(ctx context.Context, tx *sql.Tx) (uint64, error)
	// VersionLog makes every push record its version in ss_versions and
	// every pull prove its horizon from that log inside its snapshot: the
	// pull serves versions only up to the first one its snapshot does not
	// hold. Needed where a snapshot may show a transaction's commit without
	// the commit of one that released the counter to it (InnoDB read views
	// are assembled without one lock over the list of running
	// transactions; on MariaDB 10.11 a pull saw push N+1's counter without
	// push N's rows). Where one snapshot sees every transaction that
	// committed before the newest one it sees (SQLite, PostgreSQL), the
	// counter read in the snapshot is the horizon.
	VersionLog bool
	// VersionFloor, when set, is an SQL expression for a version above
	// every checkpoint an older release of ssync may have handed out on
	// this database (PostgreSQL stamped transaction ids). Open raises
	// the counter to it once, on a store whose tables already hold rows.
	VersionFloor string
	// Transient reports whether an error aborted a transaction only because
	// of another one (a deadlock, a serialization failure): running it again
	// may succeed.
	Transient func(err error) bool
	// ForeignKey reports whether an error is a foreign-key violation, found
	// at commit (SQLite, PostgreSQL) or at the statement (MariaDB). A push
	// refused for one answers ErrDanglingReference.
	ForeignKey func(err error) bool
	// ForwardReferences reports that CREATE TABLE may name in REFERENCES
	// a table that does not exist yet (SQLite). Elsewhere a table that
	// references a table created after it (a back reference of a cycle of
	// tables) is created without that foreign key, which AddForeignKey
	// adds once every table exists.
	ForwardReferences bool
	// AddForeignKey, when set, returns the statement that adds the foreign
	// key of column c (c.Ref) to an existing table. Nil writes ALTER TABLE
	// ... ADD FOREIGN KEY ... DEFERRABLE INITIALLY DEFERRED, as the shared
	// CREATE TABLE declares it.
	AddForeignKey func(table string, c ssync.Column) string
	// ForUpdate and ForShare end a SELECT that locks the rows it reads,
	// exclusively or shared, until the transaction ends (" FOR UPDATE",
	// " FOR SHARE"; MariaDB: " LOCK IN SHARE MODE"). A push that deletes
	// a row locks it and then its children; one that writes a child reads
	// its parent with a shared lock: whichever comes second sees what the
	// first did. Empty where one writer runs at a time (SQLite).
	ForUpdate, ForShare string
	// Inspect, when set, reads the tables the database has (their columns,
	// declared types, nullability and indexes); Open then compares them
	// with the registry and applies the additive changes (new tables,
	// columns and indexes) and refuses the unsafe ones. Nil leaves
	// existing tables as they are (CREATE TABLE IF NOT EXISTS only).
	Inspect func(ctx context.Context, q Queryer) ([]ExistingTable, error)
	// ForeignKeys, when set, reads the foreign keys the database has; Open
	// then adds every declared key that a column of an existing table
	// lacks, after checking that the rows hold no reference the key would
	// refuse (it refuses to open otherwise, with an *ssync.SchemaChangeError
	// naming the table, column and rows). MariaDB needs it: it commits each
	// DDL statement by itself, so a process stopped between creating a
	// table and adding its back reference's key (createTables) leaves the
	// table without it. Nil where keys are declared with their table
	// (SQLite).
	ForeignKeys func(ctx context.Context, q Queryer) ([]ExistingKey, error)
	// SameType reports whether a declared type Inspect reports is the
	// type ColumnType spells (want); nil compares them ignoring case.
	SameType func(want, have string) bool
	// AddColumn, when set, returns the statements that add column c to
	// table, with its default and foreign key. Nil writes ALTER TABLE ...
	// ADD COLUMN with the column's definition, as in the shared CREATE
	// TABLE.
	AddColumn func(table string, c ssync.Column) []string
	// DropNotNull, when set, makes columns of table nullable in tx, Open's
	// setup transaction: the model made their fields nullable, or dropped
	// fields whose columns are NOT NULL without a default. Nil refuses
	// such a change with an *ssync.SchemaChangeError.
	DropNotNull func(ctx context.Context, tx Execer, table string, columns []string) error
	// CreateIndex, when set, returns the statement that creates index ix on
	// an existing table. Nil writes CREATE INDEX IF NOT EXISTS.
	CreateIndex func(table string, ix ssync.Index) string
	// ZeroTime is the literal default of a time column added NOT NULL
	// without one: the zero time.Time as the database reads it.
	ZeroTime string
	// Notify, when set, is run in every push transaction that wrote rows,
	// after it recorded its activity: a notification the database delivers
	// at commit to the Listen of every store over it (PostgreSQL: NOTIFY).
	Notify string
	// Listen, when set, waits for the notifications of Notify on a
	// connection of its own and calls wake once it listens (a push may
	// have committed before) and for each notification, until ctx ends or
	// the connection fails (it returns then, and is called again after the
	// watch interval). Without it, a store learns of other instances'
	// pushes by its poll alone (Store.Watch).
	// A Listen that returns an error wrapping ErrListenUnsupported is not
	// called again.
	Listen func(ctx context.Context, db *sql.DB, wake func()) error
	// BumpFirst takes the push's version when the push begins and writes
	// rows with it. Right for a store with one writer at a time (SQLite);
	// elsewhere the version is taken last and stamped on the rows, so that
	// concurrent pushes hold the counter only while they commit.
	BumpFirst bool
}

// TableDef is a table as a server store creates it: a synchronized table,
// built at run time from its collection's description (ssync.Column,
// ssync.Index), or one of the store's own tables.
type TableDef struct {
	// Name is the table's (and collection's) name.
	Name string
	// Columns are the table's columns in order. A synchronized table has
	// the record's columns (ssync.RecordColumns), the user's by their
	// server names, then the store's own: ss_version, ss_created_version,
	// ss_origin and ss_writer.
	Columns []ssync.Column
	// PrimaryKey names the primary key's columns (id for a synchronized
	// table).
	PrimaryKey []string
	// Indexes are created with the table. A synchronized table has the
	// index by owner and version that pulls range over, then the declared
	// indexes, on server column names.
	Indexes []ssync.Index
}

// Queryer runs a query: the transaction of Open's setup.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Execer runs statements and queries: the transaction of Open's setup.
type Execer interface {
	Queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ExistingTable is a table as the database has it, as Dialect.Inspect
// reports it.
type ExistingTable struct {
	// Name is the table's name.
	Name string
	// Columns are its columns.
	Columns []ExistingColumn
	// Indexes are the names of its indexes.
	Indexes []string
}

// ExistingKey is a foreign key as the database has it, as
// Dialect.ForeignKeys reports it.
type ExistingKey struct {
	// Table is the referencing table.
	Table string
	// Column is the referencing column.
	Column string
	// Ref is the referenced table.
	Ref string
}

// ExistingColumn is a column as the database has it.
type ExistingColumn struct {
	// Name is the column's name.
	Name string
	// Type is its declared type as the database reports it.
	Type string
	// Nullable is true when it accepts NULL.
	Nullable bool
	// HasDefault is true when it has a default value.
	HasDefault bool
}

// storeColumns are the columns a server store adds to every synchronized
// table after the user's (see the column constants in store.go).
var storeColumns = []ssync.Column{
	{Name: columnVersion, Kind: ssync.KindInt, Size: 64},
	{Name: columnCreatedVersion, Kind: ssync.KindInt, Size: 64},
	{Name: columnOrigin, Kind: ssync.KindText, Size: 64, Default: ""},
	{Name: columnWriter, Kind: ssync.KindText, Size: 64, Default: ""},
}

// tableDef describes the server store's table of c.
func tableDef(c ssync.Collection) TableDef {
	name := c.CollectionName()
	user := c.UserColumns()
	server := make(map[string]string, len(user))
	cols := ssync.RecordColumns()
	for _, col := range user {
		server[col.Name] = col.ServerName()
		col.Name, col.Server = col.ServerName(), ""
		cols = append(cols, col)
	}
	cols = append(cols, storeColumns...)
	indexes := []ssync.Index{{Name: ssync.VersionIndexName(name), Columns: []string{ssync.ColumnSyncID, columnVersion}}}
	for _, ix := range c.UserIndexes() {
		on := make([]string, len(ix.Columns))
		for i, n := range ix.Columns {
			on[i] = server[n]
		}
		indexes = append(indexes, ssync.Index{Name: ix.Name, Columns: on})
	}
	return TableDef{Name: name, Columns: cols, PrimaryKey: []string{ssync.ColumnID}, Indexes: indexes}
}

// DDL returns the statements that create the store's table of collection c
// in this dialect, as Open runs them.
func (d Dialect) DDL(c ssync.Collection) []string { return d.create(tableDef(c)) }

// createTables returns the statements that create tables, given in
// registry order (parents first). A foreign key to a table created after
// its own (a back reference of a cycle) is added once both exist, unless
// the dialect takes references to tables not created yet.
func (d Dialect) createTables(tables []TableDef) []string {
	later := map[string]bool{}
	for _, t := range tables {
		later[t.Name] = true
	}
	var stmts, keys []string
	for _, t := range tables {
		delete(later, t.Name) // a self-reference is declared with its table
		if !d.ForwardReferences {
			var back []ssync.Column
			t, back = withoutRefsTo(t, later)
			for _, c := range back {
				keys = append(keys, d.addForeignKey(t.Name, c))
			}
		}
		stmts = append(stmts, d.create(t)...)
	}
	return append(stmts, keys...)
}

// withoutRefsTo returns t without the foreign keys to the tables in names,
// and the columns that held them.
func withoutRefsTo(t TableDef, names map[string]bool) (TableDef, []ssync.Column) {
	var back []ssync.Column
	cols := make([]ssync.Column, len(t.Columns))
	for i, c := range t.Columns {
		if c.Ref != "" && names[c.Ref] {
			back = append(back, c)
			c.Ref, c.OnDelete = "", ""
		}
		cols[i] = c
	}
	t.Columns = cols
	return t, back
}

// addForeignKey returns the dialect's AddForeignKey, or the shared ALTER
// TABLE.
func (d Dialect) addForeignKey(table string, c ssync.Column) string {
	if d.AddForeignKey != nil {
		return d.AddForeignKey(table, c)
	}
	return "ALTER TABLE " + d.Quote(table) + " ADD FOREIGN KEY (" + d.Quote(c.Name) + ") REFERENCES " + d.Quote(c.Ref) +
		" (" + d.Quote(ssync.ColumnID) + ") DEFERRABLE INITIALLY DEFERRED"
}

// create returns the statements that create t.
func (d Dialect) create(t TableDef) []string {
	if d.CreateTable != nil {
		return d.CreateTable(t)
	}
	indexes := make([]sqlddl.Index, len(t.Indexes))
	for i, ix := range t.Indexes {
		indexes[i] = sqlddl.Index{Name: ix.Name, Columns: ix.Columns}
	}
	return sqlddl.Create(sqlddl.Table{Name: t.Name, Columns: t.Columns, PrimaryKey: t.PrimaryKey, Indexes: indexes},
		d.Quote, d.ColumnType)
}

// upsert returns the dialect's Upsert statement, or the shared ON CONFLICT
// form.
func (d Dialect) upsert(table string, columns, key, update []string) string {
	if d.Upsert != nil {
		return d.Upsert(table, columns, key, update)
	}
	q := func(names []string) string { return sqlddl.QuoteAll(names, d.Quote) }
	var b strings.Builder
	b.WriteString("INSERT INTO " + d.Quote(table) + " (" + q(columns) + ") VALUES (")
	for i := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Placeholder(i + 1))
	}
	b.WriteString(") ON CONFLICT (" + q(key) + ") DO ")
	if len(update) == 0 {
		b.WriteString("NOTHING")
		return b.String()
	}
	b.WriteString("UPDATE SET ")
	for i, c := range update {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Quote(c) + " = excluded." + d.Quote(c))
	}
	return b.String()
}

// bumpReturning is the default NextVersion, for databases with UPDATE ...
// RETURNING.
func bumpReturning(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var v uint64
	err := tx.QueryRowContext(ctx, "UPDATE ss_counter SET value = value + 1 WHERE name = 'global' RETURNING value").Scan(&v)
	return v, err
}
