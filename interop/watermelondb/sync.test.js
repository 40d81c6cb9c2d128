// Runs WatermelonDB's own synchronize() (LokiJS adapter, in memory, in
// Node) against an ssync server's WatermelonDB front. Started by
// interop_test.go, which serves the store, seeds a row through an ssync Go
// device, and checks the rows this script leaves. Environment:
//   SSYNC_URL   the front's root, e.g. http://127.0.0.1:1234/watermelon
//   SEED_NOTE   the id of the note the Go device wrote
// Prints one line "RESULT {json}" for the Go test, exits non-zero on failure.
'use strict'
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
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

function open(name) {
  const adapter = new LokiJSAdapter({ schema, dbName: name, useWebWorker: false, useIncrementalIndexedDB: false })
  return new Database({ adapter, modelClasses: [User, Note] })
}

const base = process.env.SSYNC_URL
assert.ok(base, 'SSYNC_URL is required')

class HTTPError extends Error {
  constructor(status, body) {
    super(`${status} ${body}`)
    this.status = status
  }
}

const deviceIds = new WeakMap()
let lastPushRequestMs = 0
async function sync(database, user, opts = {}) {
  if (!deviceIds.has(database)) deviceIds.set(database, crypto.randomUUID())
  const headers = { 'X-Ssync-User': user, 'X-Ssync-Device': deviceIds.get(database) }
  const { beforePush, ...syncOpts } = opts
  const t0 = Date.now()
  await synchronize({
    database,
    ...syncOpts,
    pullChanges: async ({ lastPulledAt, schemaVersion, migration }) => {
      const q = new URLSearchParams({ schema_version: String(schemaVersion) })
      if (lastPulledAt) q.set('last_pulled_at', String(lastPulledAt))
      if (migration) q.set('migration', JSON.stringify(migration))
      const res = await fetch(`${base}/pull?${q}`, { headers })
      if (!res.ok) throw new HTTPError(res.status, await res.text())
      return res.json()
    },
    pushChanges: async ({ changes, lastPulledAt }) => {
      if (beforePush) await beforePush()
      const p0 = Date.now()
      const res = await fetch(`${base}/push?last_pulled_at=${lastPulledAt}`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify(changes),
      })
      if (!res.ok) throw new HTTPError(res.status, await res.text())
      lastPushRequestMs = Date.now() - p0
    },
  })
  return Date.now() - t0
}

const notes = (db) => db.get('ss_tb_note')

const step = (name) => console.log(`-- ${name}`)

async function main() {
  const phone = open('phone')
  const tablet = open('tablet')
  const bob = open('bob')

  step('first sync')
  // First sync: the Go device's note arrives.
  await sync(phone, 'alice')
  const seeded = await notes(phone).find(process.env.SEED_NOTE)
  assert.equal(seeded._raw.message, 'from the Go device')
  assert.equal(seeded._raw._status, 'synced')

  step('incremental')
  // Incremental, phone to tablet: create, then update.
  let created
  await phone.write(async () => {
    created = await notes(phone).create((n) => {
      n._setRaw('message', 'from WatermelonDB')
      n._setRaw('completed', false)
      n._setRaw('user_name', 'Ann')
      n._setRaw('created_at', Date.now())
      n._setRaw('updated_at', Date.now())
    })
  })
  await sync(phone, 'alice')
  await sync(tablet, 'alice')
  assert.equal((await notes(tablet).find(created.id))._raw.message, 'from WatermelonDB')

  step('conflict')
  // Conflict: the tablet edits and syncs between the phone's pull and its
  // push; the phone's push is refused (409), and its next synchronize()
  // pulls (WatermelonDB keeps its own changed column) and pushes.
  await phone.write(() => notes(phone).find(created.id).then((n) => n.update(() => {
    n._setRaw('message', 'edited on the phone')
    n._setRaw('updated_at', Date.now())
  })))
  const tabletEdits = async () => {
    await tablet.write(() => notes(tablet).find(created.id).then((n) => n.update(() => {
      n._setRaw('completed', true)
      n._setRaw('updated_at', Date.now())
    })))
    await sync(tablet, 'alice')
  }
  let refused = null
  await sync(phone, 'alice', { beforePush: tabletEdits }).catch((e) => { refused = e })
  assert.ok(refused && refused.status === 409, `push after a concurrent edit: ${refused}`)
  await sync(phone, 'alice')
  await sync(tablet, 'alice')
  const merged = (await notes(tablet).find(created.id))._raw
  assert.equal(merged.message, 'edited on the phone')
  assert.equal(merged.completed, true)

  step('deletes')
  // Deletes: the seeded note goes, on every device.
  await phone.write(() => notes(phone).find(process.env.SEED_NOTE).then((n) => n.markAsDeleted()))
  await sync(phone, 'alice')
  await sync(tablet, 'alice')
  await assert.rejects(notes(tablet).find(process.env.SEED_NOTE))

  step('two users')
  // Another user sees none of alice's rows.
  await sync(bob, 'bob')
  assert.equal(await notes(bob).query().fetchCount(), 0)

  step('bulk')
  // A first sync of many rows, normal and with sendCreatedAsUpdated.
  const rows = Number(process.env.BULK_ROWS || 0)
  const timings = {}
  if (rows > 0) {
    const loader = open('loader')
    await sync(loader, 'carol')
    await loader.write(async () => {
      const batch = []
      for (let i = 0; i < rows; i++) {
        batch.push(notes(loader).prepareCreate((n) => {
          n._setRaw('message', `bulk ${i}`)
          n._setRaw('completed', false)
          n._setRaw('user_name', 'Carol')
        }))
      }
      await loader.batch(batch)
    })
    timings.pushMs = await sync(loader, 'carol')
    timings.pushRequestMs = lastPushRequestMs
    const fresh1 = open('fresh1')
    const fresh2 = open('fresh2')
    timings.firstSyncMs = await sync(fresh1, 'carol')
    timings.createdAsUpdatedMs = await sync(fresh2, 'carol', { sendCreatedAsUpdated: true })
    assert.equal(await notes(fresh1).query().fetchCount(), rows)
    assert.equal(await notes(fresh2).query().fetchCount(), rows)
    timings.rows = rows
  }
  console.log('RESULT ' + JSON.stringify({ created: created.id, ...timings }))
}

// A sync that never ends fails the test instead of hanging it.
setTimeout(() => {
  console.error('sync.test.js: timed out')
  process.exit(2)
}, Number(process.env.TIMEOUT_MS || 120000)).unref()

main().then(
  () => process.exit(0), // LokiJS keeps timers alive
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
