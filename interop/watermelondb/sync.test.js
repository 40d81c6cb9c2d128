// Runs WatermelonDB's own synchronize() against an ssync server's
// WatermelonDB front, on one of WatermelonDB's Node adapters. Started by
// interop_test.go, which serves the store, seeds a row through an ssync Go
// device, and checks the rows this script leaves. Environment:
//   SSYNC_URL   the front's root, e.g. http://127.0.0.1:1234/watermelon
//   SEED_NOTE   the id of the note the Go device wrote
//   ADAPTER     lokijs (default) or sqlite (files in DB_DIR)
// Prints one line "RESULT {json}" for the Go test, exits non-zero on failure.
'use strict'
const assert = require('node:assert/strict')
const lib = require('./lib')
const { notes } = lib

const base = process.env.SSYNC_URL
assert.ok(base, 'SSYNC_URL is required')
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

  console.log('RESULT ' + JSON.stringify({ created: created.id }))
}

lib.exitAfter(main, 'sync.test.js', 120000)
