package store

import "github.com/ssync-go/ssync/runtime/ssync"

// The store's own tables, described once and created in every dialect
// through Dialect.CreateTable (or the shared DDL), as synchronized tables
// are.
var (
	// counterTable holds named counters: "global" (the version pushes
	// take), "horizon" (tombstones purged up to), "migrations" (the row
	// data migrations lock), and, with a version log, "log_floor";
	// "counter_floor" marks a raised VersionFloor.
	counterTable = TableDef{Name: "ss_counter", PrimaryKey: []string{"name"}, Columns: []ssync.Column{
		text("name", 64), {Name: "value", Kind: ssync.KindInt, Size: 64},
	}}
	// idempotencyTable keeps each push's answer under its user's key.
	idempotencyTable = TableDef{Name: "ss_idempotency", PrimaryKey: []string{"sync_id", "idem_key"}, Columns: []ssync.Column{
		text("sync_id", 255), text("idem_key", 255), text("request_hash", 64),
		text("response", 0), {Name: "created_at", Kind: ssync.KindTime},
	}}
	// deviceTable records the checkpoint of each user's device, which
	// holds back tombstone purging.
	deviceTable = TableDef{Name: "ss_device_seen", PrimaryKey: []string{"sync_id", "device"}, Columns: []ssync.Column{
		text("sync_id", 255), text("device", 64),
		{Name: "checkpoint", Kind: ssync.KindInt, Size: 64}, {Name: "seen_at", Kind: ssync.KindTime},
	}}
	// blobRefsTable holds the attachments live rows reference.
	blobRefsTable = TableDef{Name: "ss_blob_refs", PrimaryKey: []string{"collection", "row_id", "hash"},
		Columns: []ssync.Column{text("collection", 255), text("row_id", 36), text("hash", 64), text("owner", 255)},
		Indexes: []ssync.Index{{Name: "ss_blob_refs_hash", Columns: []string{"hash", "owner"}}},
	}
	// blobHoldersTable holds the users who uploaded or released content,
	// with when.
	blobHoldersTable = TableDef{Name: "ss_blob_holders", PrimaryKey: []string{"hash", "sync_id"}, Columns: []ssync.Column{
		text("hash", 64), text("sync_id", 255), {Name: "seen_at", Kind: ssync.KindTime},
	}}
	// blobUsageTable holds what each user's uploads occupy: an open
	// upload (pending = 1, item: its upload id) by the size it announced,
	// and content it uploaded (pending = 0, item: its hash) until
	// PurgeBlobs removes the content; touched_at is when the item was last
	// written.
	blobUsageTable = TableDef{Name: "ss_blob_usage", PrimaryKey: []string{"sync_id", "item"}, Columns: []ssync.Column{
		text("sync_id", 255), text("item", 160), {Name: "size", Kind: ssync.KindInt, Size: 64},
		{Name: "pending", Kind: ssync.KindInt, Size: 16}, {Name: "touched_at", Kind: ssync.KindTime},
	}}
	// columnsTable records the kind and size of every column of the
	// synchronized tables (see migrate.Recorded).
	columnsTable = TableDef{Name: "ss_columns", PrimaryKey: []string{"tbl", "col"}, Columns: []ssync.Column{
		text("tbl", 255), text("col", 255), text("kind", 16), {Name: "size", Kind: ssync.KindInt, Size: 32},
	}}
	// migrationsTable records the data migrations the database has run
	// (WithMigrations).
	migrationsTable = TableDef{Name: "ss_migrations", PrimaryKey: []string{"version"}, Columns: []ssync.Column{
		{Name: "version", Kind: ssync.KindInt, Size: 64}, text("name", 255), {Name: "applied_at", Kind: ssync.KindTime},
	}}
	// versionsTable is the version log (Dialect.VersionLog).
	versionsTable = TableDef{Name: "ss_versions", PrimaryKey: []string{"version"}, Columns: []ssync.Column{
		{Name: "version", Kind: ssync.KindInt, Size: 64},
	}}
)

// text is a text column of at most size characters (0: any length).
func text(name string, size int) ssync.Column {
	return ssync.Column{Name: name, Kind: ssync.KindText, Size: size}
}

// ownTables are the store's own tables in d.
func ownTables(d Dialect) []TableDef {
	t := []TableDef{counterTable, idempotencyTable, deviceTable, blobRefsTable, blobHoldersTable, blobUsageTable, schemaTable, columnsTable, migrationsTable, activityTable}
	if d.VersionLog {
		t = append(t, versionsTable)
	}
	return t
}

// statements are the store's statements that differ per dialect, built
// once when the store opens.
type statements struct {
	// addCounter creates a counter unless it exists: args name, value.
	addCounter string
	// setCounter sets a counter: args name, value.
	setCounter string
	// claimKey inserts an idempotency key with an empty answer, doing
	// nothing (and affecting no row) when the user already has the key:
	// args sync id, key, request hash, response (empty), created at.
	claimKey string
	// upsertDevice records a user's device's checkpoint: args sync id,
	// device, checkpoint, seen at.
	upsertDevice string
	// holdBlob records (or refreshes) that a user has a blob's content:
	// args hash, sync id, seen at.
	holdBlob string
	// useBlob records (or refreshes) what an upload of a user occupies:
	// args sync id, item, size, pending, touched at.
	useBlob string
	// recordSchema records a schema: args fingerprint, version, first
	// opened at, last opened at.
	recordSchema string
	// upsertActivity records the version of a push that wrote rows of a
	// user who has no activity yet: args sync id, version, writer, other.
	upsertActivity string
	// bumpActivity records the version of a push that wrote rows of a
	// user: args writer, version, writer, sync id. other takes the
	// version before when another writer made it (SET assigns left to
	// right on MySQL, from the old row elsewhere: other comes first).
	bumpActivity string
	// recordKind records a column's kind: args table, column, kind, size.
	recordKind string
}

func newStatements(d Dialect) statements {
	counter := []string{"name", "value"}
	return statements{
		addCounter:   d.upsert(counterTable.Name, counter, []string{"name"}, nil),
		setCounter:   d.upsert(counterTable.Name, counter, []string{"name"}, []string{"value"}),
		claimKey:     d.upsert(idempotencyTable.Name, []string{"sync_id", "idem_key", "request_hash", "response", "created_at"}, idempotencyTable.PrimaryKey, nil),
		upsertDevice: d.upsert(deviceTable.Name, []string{"sync_id", "device", "checkpoint", "seen_at"}, deviceTable.PrimaryKey, []string{"checkpoint", "seen_at"}),
		holdBlob:     d.upsert(blobHoldersTable.Name, []string{"hash", "sync_id", "seen_at"}, blobHoldersTable.PrimaryKey, []string{"seen_at"}),
		useBlob: d.upsert(blobUsageTable.Name, []string{"sync_id", "item", "size", "pending", "touched_at"}, blobUsageTable.PrimaryKey,
			[]string{"size", "pending", "touched_at"}),
		recordSchema: d.upsert(schemaTable.Name, []string{"fingerprint", "version", "first_opened_at", "last_opened_at"},
			schemaTable.PrimaryKey, []string{"version", "last_opened_at"}),
		upsertActivity: d.upsert(activityTable.Name, []string{"sync_id", "version", "writer", "other"}, activityTable.PrimaryKey,
			[]string{"version", "writer"}),
		bumpActivity: "UPDATE " + d.Quote(activityTable.Name) + " SET other = CASE WHEN writer = " + d.Placeholder(1) +
			" THEN other ELSE version END, version = " + d.Placeholder(2) + ", writer = " + d.Placeholder(3) +
			" WHERE sync_id = " + d.Placeholder(4),
		recordKind: d.upsert(columnsTable.Name, []string{"tbl", "col", "kind", "size"}, columnsTable.PrimaryKey, []string{"kind", "size"}),
	}
}
