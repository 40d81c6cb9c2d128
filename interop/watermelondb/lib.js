// The WatermelonDB app the interop scripts run: its schema and models (the
// example's collections), a database on either of WatermelonDB's Node
// adapters, and sync() against an ssync server's WatermelonDB front.
'use strict'
const crypto = require('node:crypto')
const path = require('node:path')
const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const SQLiteAdapter = require('@nozbe/watermelondb/adapters/sqlite').default
const { synchronize } = require('@nozbe/watermelondb/sync')
const { setGenerator } = require('@nozbe/watermelondb/utils/common/randomId')

// ssync ids are UUIDs.
setGenerator(() => crypto.randomUUID())

const schema = appSchema({
  version: 1,
  tables: [
    tableSchema({
      name: 'ss_tb_user',
      columns: [
        { name: 'name', type: 'string' },
        { name: 'age', type: 'number' },
        { name: 'created_at', type: 'number' },
        { name: 'updated_at', type: 'number' },
      ],
    }),
    tableSchema({
      name: 'ss_tb_note',
      columns: [
        { name: 'message', type: 'string' },
        { name: 'completed', type: 'boolean' },
        { name: 'user_id', type: 'string', isOptional: true },
        { name: 'user_name', type: 'string' },
        { name: 'file', type: 'string', isOptional: true },
        { name: 'created_at', type: 'number' },
        { name: 'updated_at', type: 'number' },
      ],
    }),
  ],
})

class User extends Model {
  static table = 'ss_tb_user'
}
class Note extends Model {
  static table = 'ss_tb_note'
}

// ADAPTERS are WatermelonDB's two adapters that run in Node: LokiJS (in
// memory) and SQLite (its sqlite-node dispatcher over better-sqlite3, on a
// real file in DB_DIR).
const ADAPTERS = ['lokijs', 'sqlite']

// open returns a fresh database called name on adapter kind.
function open(kind, name) {
  let adapter
  switch (kind) {
    case 'lokijs':
      adapter = new LokiJSAdapter({ schema, dbName: name, useWebWorker: false, useIncrementalIndexedDB: false })
      break
    case 'sqlite': {
      const dir = process.env.DB_DIR
      if (!dir) throw new Error('DB_DIR is required for the SQLite adapter: where its files go')
      adapter = new SQLiteAdapter({ schema, dbName: path.join(dir, `${name}.db`) })
      break
    }
    default:
      throw new Error(`adapter ${JSON.stringify(kind)}: want one of ${ADAPTERS.join(', ')}`)
  }
  return new Database({ adapter, modelClasses: [User, Note] })
}

// HTTPError is a refused request: status and body.
class HTTPError extends Error {
  constructor(status, body) {
    super(`${status} ${body}`)
    this.status = status
  }
}

const deviceIds = new WeakMap()

// sync runs synchronize() on database for user against the front at base
// and returns its timings in ms: total, pullRequest (the GET and reading
// its body), pushRequest (the POST). opts are synchronize()'s, plus
// beforePush (awaited before the push request) and turbo (unsafeTurbo: the
// pull's body goes to WatermelonDB as syncJson, unparsed).
async function sync(base, database, user, opts = {}) {
  if (!deviceIds.has(database)) deviceIds.set(database, crypto.randomUUID())
  const headers = { 'X-Ssync-User': user, 'X-Ssync-Device': deviceIds.get(database) }
  const { beforePush, turbo, ...syncOpts } = opts
  const times = { pullRequest: 0, pushRequest: 0 }
  const t0 = performance.now()
  await synchronize({
    database,
    ...syncOpts,
    unsafeTurbo: !!turbo,
    pullChanges: async ({ lastPulledAt, schemaVersion, migration }) => {
      const p0 = performance.now()
      const q = new URLSearchParams({ schema_version: String(schemaVersion) })
      if (lastPulledAt) q.set('last_pulled_at', String(lastPulledAt))
      if (migration) q.set('migration', JSON.stringify(migration))
      const res = await fetch(`${base}/pull?${q}`, { headers })
      if (!res.ok) throw new HTTPError(res.status, await res.text())
      const out = turbo ? { syncJson: await res.text() } : await res.json()
      times.pullRequest = performance.now() - p0
      return out
    },
    pushChanges: async ({ changes, lastPulledAt }) => {
      if (beforePush) await beforePush()
      const p0 = performance.now()
      const res = await fetch(`${base}/push?last_pulled_at=${lastPulledAt}`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify(changes),
      })
      if (!res.ok) throw new HTTPError(res.status, await res.text())
      times.pushRequest = performance.now() - p0
    },
  })
  times.total = performance.now() - t0
  return times
}

const notes = (db) => db.get('ss_tb_note')

// exitAfter runs main, exits 0 when it resolves (LokiJS keeps timers
// alive) and 1 when it fails, and fails it after TIMEOUT_MS (default
// defaultMs) instead of hanging.
function exitAfter(main, name, defaultMs) {
  setTimeout(() => {
    console.error(`${name}: timed out`)
    process.exit(2)
  }, Number(process.env.TIMEOUT_MS || defaultMs)).unref()
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}

module.exports = { ADAPTERS, HTTPError, exitAfter, notes, open, schema, sync }
