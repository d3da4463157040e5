'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const gnn = require('..')
const { rng, randomRows, ring } = require('./helpers')

const D = 16

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-db-'))
}

function filled(n, seed = 3) {
  const db = gnn.VectorDB.inMemory(D)
  const ids = Array.from({ length: n }, (_, i) => i)
  db.insertBatch(ids, randomRows(n, D, seed))
  return db
}

test('GNNEmbedder: new, encode, toBytes/fromBytes, save/load', () => {
  const m = new gnn.GNNEmbedder({ inputDim: D, outputDim: 8, numLayers: 2, seed: 1 })
  assert.equal(m.inputDim, D)
  assert.equal(m.outputDim, 8)
  assert.equal(m.isTrained, false)
  const n = 10
  const x = randomRows(n, D, 5)
  const e = m.encode(x, n, ring(n))
  assert.equal(e.length, n * 8)
  const back = gnn.GNNEmbedder.fromBytes(m.toBytes())
  assert.deepEqual(back.encode(x, n, ring(n)), e)
  const dir = tmpdir()
  try {
    const f = path.join(dir, 'model.safetensors')
    m.save(f)
    assert.deepEqual(gnn.GNNEmbedder.load(f).encode(x, n, ring(n)), e)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  assert.throws(() => new gnn.GNNEmbedder({ inputDim: -4 }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => m.encode(x, n + 1, ring(n + 1)), { code: 'ERR_DIMENSION_MISMATCH', message: /expected 11 x 16/ })
  assert.throws(() => gnn.GNNEmbedder.fromBytes(Buffer.from('not a model')), { code: 'ERR_CORRUPT' })
})

test('GNNEmbedder: a GAT tower', () => {
  const m = new gnn.GNNEmbedder({ inputDim: D, outputDim: 8, numHeads: 4, tower: 'gat', seed: 1 })
  const n = 10
  const x = randomRows(n, D, 5)
  const e = m.encode(x, n, ring(n))
  assert.equal(e.length, n * 8)
  assert.deepEqual(gnn.GNNEmbedder.fromBytes(m.toBytes()).encode(x, n, ring(n)), e)
  assert.throws(() => new gnn.GNNEmbedder({ inputDim: D, tower: 'gcn' }), { code: 'ERR_INVALID_ARG', message: /tower/ })
  assert.throws(() => new gnn.GNNEmbedder({ inputDim: D, outputDim: 8, numHeads: 3, tower: 'gat' }), { code: 'ERR_INVALID_ARG', message: /heads/ })
})

test('VectorDB in memory: insert, insertBatch, search, stats, ids, graph, vectors', () => {
  const db = filled(50)
  assert.equal(db.dimensions, D)
  assert.equal(db.length, 50)
  const v = randomRows(1, D, 99)
  db.insert(1000, v)
  db.insert(1001n, v) // bigint ids
  assert.equal(db.length, 52)
  const hits = db.search(v, 2)
  assert.equal(hits.length, 2)
  assert.deepEqual(hits.map((h) => h.id).sort(), [1000, 1001])
  assert.ok(Math.abs(hits[0].distance) < 1e-5)
  assert.ok(Math.abs(hits[0].score - 1) < 1e-5)
  assert.equal(db.search(v).length, 10) // default k
  const s = db.stats()
  assert.equal(s.len, 52)
  assert.equal(s.dimensions, D)
  assert.equal(s.metric, 'cosine')
  assert.equal(s.feedbackEvents, 0)
  assert.equal(s.modelTrained, false)
  assert.equal(s.path, undefined)
  assert.equal(db.ids().length, 52)
  const g = db.getHnswGraph()
  assert.equal(g.length, 52)
  assert.ok(g.every((l) => l.every((j) => j >= 0 && j < 52)))
  assert.equal(db.getAllVectors().length, 52 * D)
})

test('VectorDB metrics and options', () => {
  for (const metric of ['cosine', 'l2', 'dot']) {
    const db = gnn.VectorDB.inMemory(4, { metric, m: 8, efConstruction: 50, efSearch: 20 })
    db.insertBatch([0, 1], new Float32Array([0.1, 0, 0, 0, 0, 0.1, 0, 0]))
    assert.equal(db.stats().metric, metric)
    assert.equal(db.search(new Float32Array([0.1, 0, 0, 0]), 1)[0].id, 0)
  }
  assert.throws(() => gnn.VectorDB.inMemory(4, { metric: 'hamming' }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => gnn.VectorDB.inMemory(4, { m: -16 }), { code: 'ERR_INVALID_ARG', message: /m must be non-negative/ })
})

test('VectorDB create / save / open round trip', () => {
  const dir = path.join(tmpdir(), 'store')
  try {
    const db = gnn.VectorDB.create(dir, D)
    db.insertBatch([1, 2, 3], randomRows(3, D, 4))
    db.save()
    assert.equal(db.stats().path, dir)
    const re = gnn.VectorDB.open(dir)
    assert.equal(re.length, 3)
    assert.deepEqual(re.ids().sort(), [1, 2, 3])
    assert.throws(() => gnn.VectorDB.create(dir, D), { code: 'ERR_INVALID_ARG' }) // already exists
    assert.throws(() => gnn.VectorDB.open(path.join(dir, 'nope')), { code: 'ERR_CORRUPT' })
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true })
  }
})

test('VectorDB argument errors', () => {
  const db = filled(10)
  const q = randomRows(1, D, 7)
  assert.throws(() => db.search(q, -1), { code: 'ERR_INVALID_ARG', message: /k must be non-negative/ })
  assert.throws(() => db.search(q, 0), { code: 'ERR_INVALID_ARG', message: /k must be at least 1/ })
  assert.throws(() => db.search(q.subarray(1), 3), { code: 'ERR_DIMENSION_MISMATCH', message: /expected 16 dimensions, got 15/ })
  assert.throws(() => db.search(new Float32Array(D).fill(NaN), 3), { code: 'ERR_NOT_FINITE', message: /non-finite/ })
  assert.throws(() => db.insert(-1, q), { code: 'ERR_INVALID_ARG', message: /id must be non-negative/ })
  assert.throws(() => db.insert(1.5, q), { code: 'ERR_INVALID_ARG', message: /id must be an integer/ })
  assert.throws(() => db.insert(2 ** 60, q), { code: 'ERR_INVALID_ARG', message: /too large/ })
  assert.throws(() => db.insert(-5n, q), { code: 'ERR_INVALID_ARG', message: /bigint/ })
  assert.throws(() => db.insertBatch([1, 2], randomRows(3, D, 1)), {
    code: 'ERR_DIMENSION_MISMATCH',
    message: /expected 2 ids x 16 dimensions = 32 values, got 48/,
  })
  assert.throws(() => db.recordFeedback(q, [0], [12345]), { code: 'ERR_UNKNOWN_ID', message: /unknown id 12345/ })
  assert.throws(() => db.recordFeedback(q, [], []), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => db.recordFeedback(q, [0], [1], new Float32Array([1, 2])), { code: 'ERR_INVALID_ARG', message: /2 grades for 1 chosen/ })
  assert.throws(() => db.explain(q, 999), { code: 'ERR_UNKNOWN_ID', message: /unknown id 999/ })
  assert.throws(() => db.train({ epochs: -1 }), { code: 'ERR_INVALID_ARG', message: /epochs must be non-negative/ })
  assert.throws(() => db.train({ lr: -0.1 }), { code: 'ERR_INVALID_ARG', message: /lr must be/ })
  assert.throws(() => db.searchBatchAsync(randomRows(1, D, 1).subarray(1), 3), { code: 'ERR_DIMENSION_MISMATCH', message: /multiple of the dimension/ })
  const other = new gnn.GNNEmbedder({ inputDim: D + 1 })
  assert.throws(() => db.publish(other), { code: 'ERR_DIMENSION_MISMATCH' })
})

test('async variants: insertBatchAsync, searchBatchAsync, trainAsync reject', async () => {
  const db = gnn.VectorDB.inMemory(D)
  await db.insertBatchAsync([0, 1, 2, 3, 4], randomRows(5, D, 11))
  assert.equal(db.length, 5)
  const qs = randomRows(3, D, 12)
  const res = await db.searchBatchAsync(qs, 2)
  assert.equal(res.length, 3)
  assert.deepEqual(res[1], db.search(qs.subarray(D, 2 * D), 2))
  const learned = await db.searchBatchAsync(qs, 2, true)
  assert.equal(learned.length, 3)
  await assert.rejects(db.insertBatchAsync([9], new Float32Array(D).fill(Infinity)), { code: 'ERR_NOT_FINITE', message: /non-finite/ })
})

/** A store where every query of a cluster has a consistent "3rd result" the
 * users choose, so the learned model must promote it. */
function clusterScenario() {
  const r = rng(42)
  const db = gnn.VectorDB.inMemory(D, { efSearch: 64 })
  const center = Float32Array.from({ length: D }, () => r() - 0.5)
  const n = 200
  const rows = new Float32Array(n * D)
  for (let i = 0; i < n; i++) {
    // items 0..19 are near the center at growing distances, the rest random
    const spread = i < 20 ? 0.05 + 0.02 * i : 1.0
    for (let j = 0; j < D; j++) {
      rows[i * D + j] = i < 20 ? center[j] + spread * (r() - 0.5) : r() - 0.5
    }
  }
  db.insertBatch(Array.from({ length: n }, (_, i) => i), rows)
  const query = () => Float32Array.from(center, (c) => c + 0.02 * (r() - 0.5))
  return { db, query }
}

test('end to end: search -> feedback -> train -> searchWithGnn promotes the chosen item', async () => {
  const { db, query } = clusterScenario()
  const probe = query()
  const plain = db.search(probe, 10)
  const target = plain[2].id // users consistently choose this (3rd for the probe)
  const rankOf = (hits) => hits.findIndex((h) => h.id === target)
  const before = rankOf(db.searchWithGnn(probe, 10))
  assert.equal(before, rankOf(plain)) // untrained model ranks like cosine
  for (let i = 0; i < 60; i++) {
    const q = query()
    const shown = db.search(q, 10).map((h) => h.id)
    db.recordFeedback(q, shown, [target])
  }
  assert.equal(db.stats().feedbackEvents, 60)
  const rep = await db.trainAsync({ epochs: 40, seed: 1 })
  assert.equal(typeof rep.loss, 'number')
  assert.ok(rep.nTrain > 0)
  assert.equal(rep.published, true, JSON.stringify(rep))
  assert.equal(db.stats().modelTrained, true)
  const after = rankOf(db.searchWithGnn(probe, 10))
  assert.ok(after >= 0 && after < before, `rank before ${before}, after ${after}`)
  // explicit model argument: the published copy gives the same order
  const model = db.model()
  assert.equal(model.isTrained, true)
  assert.deepEqual(db.searchWithGnn(probe, 10, model).map((h) => h.id), db.searchWithGnn(probe, 10).map((h) => h.id))
  const ex = db.explain(probe, target)
  assert.equal(ex.id, target)
  assert.ok(Number.isFinite(ex.score) && Number.isFinite(ex.base))
  assert.ok(Array.isArray(ex.features) && ex.features.every((f) => typeof f.name === 'string'))
  assert.ok(Array.isArray(ex.attention) && Array.isArray(ex.neighbours))
  assert.equal(db.explain(probe, target, model).score, ex.score)
})

test('sync train and publish', () => {
  const { db, query } = clusterScenario()
  const q = query()
  const top = db.search(q, 10)
  for (let i = 0; i < 20; i++) db.recordFeedback(query(), top.map((h) => h.id), [top[3].id])
  const rep = db.train({ epochs: 5 })
  assert.equal(typeof rep.published, 'boolean')
  const fresh = new gnn.GNNEmbedder({ inputDim: D })
  db.publish(fresh)
  assert.equal(db.model().isTrained, false)
})
