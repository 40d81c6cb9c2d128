// Times WatermelonDB's first sync of a user's many rows from an ssync
// server's WatermelonDB front, on each of WatermelonDB's Node adapters:
// normal, with sendCreatedAsUpdated, and with unsafeTurbo (turbo login).
// Started by ssync-bench (scenario watermelon) and interop_test.go, which
// seed the rows and serve them. Environment:
//   SSYNC_URL   the front's root, e.g. http://127.0.0.1:1234/watermelon
//   BULK_USER   the user whose rows are pulled
//   BULK_ROWS   how many notes the user has: every first sync must bring them all
//   ADAPTERS    comma separated, default lokijs,sqlite (files in DB_DIR)
// Prints one line "RESULT {json}": per adapter, the milliseconds of each
// first sync (total and pull request), or for turbo the adapter's refusal.
'use strict'
const assert = require('node:assert/strict')
const lib = require('./lib')

const base = process.env.SSYNC_URL
const user = process.env.BULK_USER
const rows = Number(process.env.BULK_ROWS)
assert.ok(base && user && rows > 0, 'SSYNC_URL, BULK_USER and BULK_ROWS are required')
const kinds = (process.env.ADAPTERS || lib.ADAPTERS.join(',')).split(',')

// Turbo login needs the adapter to take the pull's JSON text natively
// (adapter.provideSyncJson, then unsafeLoadFromSync). WatermelonDB's Node
// adapters refuse both: LokiJS always, SQLite outside its JSI dispatcher,
// which needs React Native. The refusal is asserted, so a WatermelonDB
// that gains turbo in Node fails here and gets measured instead.
const turboRefusal = {
  lokijs: /provideSyncJson unavailable in LokiJS/,
  sqlite: /provideSyncJson unavailable\. Use JSI mode to enable\./,
}

async function firstSync(kind, name, opts) {
  const db = lib.open(kind, name)
  const t = await lib.sync(base, db, user, opts)
  const got = await lib.notes(db).query().fetchCount()
  assert.equal(got, rows, `${kind} ${name}: first sync brought ${got} notes, want ${rows}`)
  return { ms: Math.round(t.total), pullRequestMs: Math.round(t.pullRequest) }
}

async function main() {
  const out = {}
  for (const kind of kinds) {
    const r = {}
    r.normal = await firstSync(kind, `${kind}-normal`, {})
    r.createdAsUpdated = await firstSync(kind, `${kind}-created-as-updated`, { sendCreatedAsUpdated: true })
    const db = lib.open(kind, `${kind}-turbo`)
    const t0 = performance.now()
    const err = await lib.sync(base, db, user, { turbo: true }).then(() => null, (e) => e)
    if (err === null) {
      const got = await lib.notes(db).query().fetchCount()
      assert.equal(got, rows, `${kind} turbo: first sync brought ${got} notes, want ${rows}`)
      r.turbo = { ms: Math.round(performance.now() - t0) }
    } else {
      assert.match(String(err && err.message), turboRefusal[kind], `${kind} turbo: unexpected failure`)
      assert.equal(await lib.notes(db).query().fetchCount(), 0)
      r.turboRefused = err.message
    }
    out[kind] = r
    console.log(`-- ${kind}: ${JSON.stringify(r)}`)
  }
  // The server's and the wire's part of a turbo login: the pull's body
  // read as text, as an app hands it to WatermelonDB's syncJson.
  const p0 = performance.now()
  const res = await fetch(`${base}/pull?schema_version=1`, { headers: { 'X-Ssync-User': user } })
  assert.ok(res.ok, `turbo pull: ${res.status}`)
  const text = await res.text()
  const turboPullRequestMs = Math.round(performance.now() - p0)
  const turboPullBytes = Buffer.byteLength(text)
  console.log('RESULT ' + JSON.stringify({ rows, adapters: out, turboPullRequestMs, turboPullBytes }))
}

lib.exitAfter(main, 'bulk.js', 600000)
