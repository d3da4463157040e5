'use strict'
// Async variants (libuv pool, Promises) and the event loop staying free.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const gnn = require('..')
const { rng, randomRows, ring } = require('./helpers')

const D = 16

test('createAsync / saveAsync / openAsync round trip', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-async-')), 'store')
  try {
    const p = gnn.VectorDB.createAsync(dir, D, { metric: 'l2', efSearch: 32 })
    assert.ok(p instanceof Promise)
    const db = await p
    assert.ok(db instanceof gnn.VectorDB)
    const rows = randomRows(30, D, 8)
    await db.insertBatchAsync(Array.from({ length: 30 }, (_, i) => i * 3), rows)
    await db.saveAsync()
    assert.equal(db.stats().unflushedRows, 0)
    const re = await gnn.VectorDB.openAsync(dir)
    assert.ok(re instanceof gnn.VectorDB)
    assert.equal(re.length, 30)
    assert.equal(re.stats().metric, 'l2')
    const q = rows.subarray(4 * D, 5 * D)
    assert.deepEqual(re.search(q, 5), db.search(q, 5))
    assert.equal(re.search(q, 1)[0].id, 12)
    await gnn.VectorDB.inMemory(D).saveAsync() // a no-op in memory
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true })
  }
})

test('encodeAsync and forwardAsync equal their sync versions', async () => {
  const n = 12
  const x = randomRows(n, D, 21)
  const adj = ring(n)
  const m = new gnn.GNNEmbedder({ inputDim: D, outputDim: 8, seed: 2 })
  assert.deepEqual(await m.encodeAsync(x, n, adj), m.encode(x, n, adj))
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 4 })
  const layers = [
    gcn,
    new gnn.GATLayer({ inputDim: D, outputDim: 3, numHeads: 2 }),
    new gnn.GraphSAGE({ inputDim: D, outputDim: 5 }),
    gcn.quantize('int8'),
  ]
  for (const l of layers) {
    const y = await l.forwardAsync(x, n, adj)
    assert.ok(y instanceof Float32Array)
    assert.deepEqual(y, l.forward(x, n, adj))
  }
  // napi holds the layer while a forward is queued: mutating it meanwhile is
  // refused (coded), the queued forward uses the old weights, and afterwards
  // the mutation works
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-async-w-'))
  try {
    const other = new gnn.GCNLayer({ inputDim: D, outputDim: 4 })
    const f = path.join(dir, 'w.safetensors')
    other.saveWeights(f)
    const before = gcn.forward(x, n, adj)
    const pending = gcn.forwardAsync(x, n, adj)
    assert.throws(() => gcn.loadWeights(f), { code: 'ERR_INVALID_ARG', message: /borrow/ })
    assert.deepEqual(await pending, before)
    gcn.loadWeights(f)
    assert.deepEqual(gcn.forward(x, n, adj), other.forward(x, n, adj))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

/** A store with feedback to train on. */
function trainable() {
  const r = rng(42)
  const db = gnn.VectorDB.inMemory(D)
  const n = 200
  db.insertBatch(Array.from({ length: n }, (_, i) => i), randomRows(n, D, 9))
  const center = Float32Array.from({ length: D }, () => r() - 0.5)
  const query = () => Float32Array.from(center, (c) => c + 0.05 * (r() - 0.5))
  const top = db.search(query(), 10).map((h) => h.id)
  for (let i = 0; i < 40; i++) db.recordFeedback(query(), top, [top[2]])
  return db
}

/**
 * Calls `run` and counts, until its result settles, the event-loop turns
 * (a self-rescheduling setImmediate: one per loop iteration) and the ticks of
 * a 1 ms setInterval. A call that blocks the JS thread until its work is done
 * settles before the first turn: 0 turns, always.
 */
function countWhilePending(run) {
  return new Promise((resolve, reject) => {
    let turns = 0
    let ticks = 0
    let done = false
    const spin = () => {
      if (done) return
      turns++
      setImmediate(spin)
    }
    setImmediate(spin)
    const timer = setInterval(() => ticks++, 1)
    Promise.resolve()
      .then(run)
      .then(
        (value) => {
          done = true
          clearInterval(timer)
          resolve({ turns, ticks, value })
        },
        (e) => {
          done = true
          clearInterval(timer)
          reject(e)
        },
      )
  })
}

test('the event loop keeps turning and timers keep ticking while trainAsync works', async () => {
  // The blocking `train` gives 0 turns: the counter tells the two apart.
  const blocking = await countWhilePending(() => trainable().train({ epochs: 5 }))
  assert.equal(blocking.turns, 0)
  assert.equal(blocking.ticks, 0)
  // trainAsync: the job is sized up (doubling epochs) until it outlasts one
  // timer tick. With a blocking implementation no size would ever give a turn
  // or a tick before resolution, so this cannot pass by luck; with a working
  // one the loop is bounded by the job's length, not by a time threshold.
  let epochs = 10
  let seen = { turns: 0, ticks: 0 }
  for (let attempt = 0; attempt < 8 && (seen.turns === 0 || seen.ticks === 0); attempt++, epochs *= 2) {
    const db = trainable()
    seen = await countWhilePending(() => db.trainAsync({ epochs }))
    assert.equal(typeof seen.value.published, 'boolean')
  }
  assert.ok(seen.turns >= 1, `event loop turns while training: ${seen.turns}`)
  assert.ok(seen.ticks >= 1, `timer ticks while training: ${seen.ticks}`)
  // Every turn counted ran while the training job was still pending, so the
  // JS thread was blocked only by trainAsync's synchronous part (argument
  // checks and queueing), never by the training itself.
  assert.ok(seen.turns >= seen.ticks, `${seen.turns} turns, ${seen.ticks} ticks`)
})
