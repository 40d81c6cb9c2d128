// Runs WatermelonDB's own synchronize() against an ssync server's
// WatermelonDB front, on one of WatermelonDB's Node adapters. Started by
// interop_test.go, which serves the store, seeds a row through an ssync Go
// device, and checks the rows this script leaves. Environment:
//   SSYNC_URL   the front's root, e.g. http://127.0.0.1:1234/watermelon
//   SEED_NOTE   the id of the note the Go device wrote
//   SSYNC_URL_BOUNDED  a front over the same store whose answers hold at most 2 rows
//   ADAPTER     lokijs (default) or sqlite (files in DB_DIR)
// Prints one line "RESULT {json}" for the Go test, exits non-zero on failure.
'use strict'
const assert = require('node:assert/strict')
const lib = require('./lib')
const { notes } = lib

const base = process.env.SSYNC_URL
const boundedBase = process.env.SSYNC_URL_BOUNDED
assert.ok(base && boundedBase, 'SSYNC_URL and SSYNC_URL_BOUNDED are required')
const kind = process.env.ADAPTER || 'lokijs'
const open = (name) => lib.open(kind, name)
const sync = (db, user, opts) => lib.sync(base, db, user, opts)

const step = (name) => console.log(`-- ${kind}: ${name}`)

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

  step('bounded pulls')
  // Through a front whose answers hold at most 2 rows (MaxPullRows), an
  // app syncs again while the answer says more (onDidPullChanges hands it
  // over) and ends with every note, each in its own write.
  for (let i = 0; i < 3; i++) {
    await phone.write(() => notes(phone).create((n) => {
      n._setRaw('message', `bounded ${i}`)
      n._setRaw('user_name', 'Ann')
    }))
    await sync(phone, 'alice')
  }
  const paged = open('paged')
  const mores = []
  for (let more = true; more;) {
    assert.ok(mores.length < 20, `still more after ${mores.length} syncs`)
    more = false
    await lib.sync(boundedBase, paged, 'alice', { onDidPullChanges: (r) => { more = r.more === true } })
    mores.push(more)
  }
  const ids = async (db) => (await notes(db).query().fetch()).map((n) => n.id).sort()
  assert.deepEqual(await ids(paged), await ids(phone))
  assert.ok(mores.length >= 2 && mores[0], `bounded pulls: more was ${mores}`)

  console.log('RESULT ' + JSON.stringify({ created: created.id }))
}

lib.exitAfter(main, 'sync.test.js', 120000)
