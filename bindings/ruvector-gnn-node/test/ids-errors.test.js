'use strict'
// 64-bit ids (bigint above Number.MAX_SAFE_INTEGER) and the stable error codes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const gnn = require('..')
const { rng, randomRows, ring } = require('./helpers')

const D = 8
const BIG = 2n ** 60n + 7n
const MAX_SAFE = Number.MAX_SAFE_INTEGER

test('ids above 2^53 round-trip as bigint through insert, search, feedback, train, explain', async () => {
  const r = rng(5)
  const db = gnn.VectorDB.inMemory(D)
  const center = Float32Array.from({ length: D }, () => r() - 0.5)
  const near = (s) => Float32Array.from(center, (c) => c + s * (r() - 0.5))
  // small ids as numbers, one exactly MAX_SAFE_INTEGER, the big one as bigint
  const ids = [0, 1, 2, 3, MAX_SAFE, BIG, 2n ** 64n - 1n]
  const rows = new Float32Array(ids.length * D)
  ids.forEach((_, i) => rows.set(near(0.05 + 0.05 * i), i * D))
  db.insertBatch(ids, rows)
  db.insert(BIG + 1n, near(0.5))
  assert.equal(db.length, 8)

  // Output rule: number when <= MAX_SAFE_INTEGER, bigint above.
  const all = db.ids()
  assert.ok(all.includes(MAX_SAFE) && typeof all.find((x) => x === MAX_SAFE) === 'number')
  assert.ok(all.includes(BIG) && all.includes(BIG + 1n) && all.includes(2n ** 64n - 1n))
  for (const id of all) {
    assert.equal(typeof id, typeof id === 'bigint' ? 'bigint' : 'number')
    if (typeof id === 'bigint') assert.ok(id > BigInt(MAX_SAFE))
    else assert.ok(Number.isSafeInteger(id))
  }
  // a number-typed id equal to a bigint-typed one is accepted everywhere
  assert.equal(db.search(rows.subarray(4 * D, 5 * D), 1)[0].id, MAX_SAFE)
  assert.equal(db.search(rows.subarray(5 * D, 6 * D), 1)[0].id, BIG)

  const probe = near(0.02)
  const hits = db.search(probe, 8)
  assert.ok(hits.some((h) => h.id === BIG))
  for (let i = 0; i < 30; i++) {
    const q = near(0.02)
    db.recordFeedback(q, db.search(q, 8).map((h) => h.id), [BIG])
  }
  // chosen id given as the bigint, shown ids as returned (mixed number / bigint)
  assert.equal(db.stats().feedbackEvents, 30)
  const rep = await db.trainAsync({ epochs: 20, seed: 3 })
  assert.equal(typeof rep.published, 'boolean')
  const learned = db.searchWithGnn(probe, 8)
  assert.ok(learned.some((h) => h.id === BIG))
  const [batch] = await db.searchBatchAsync(probe, 8, true)
  assert.deepEqual(batch.map((h) => h.id), learned.map((h) => h.id))

  const ex = db.explain(probe, BIG)
  assert.equal(ex.id, BIG)
  assert.ok(ex.neighbours.length > 0)
  assert.ok(ex.neighbours.every((n) => all.includes(n.id)), 'neighbours are stored ids')
  assert.ok(ex.neighbours.every((n) => typeof n.id === (n.id > MAX_SAFE ? 'bigint' : 'number')))
  assert.equal(db.explain(probe, MAX_SAFE).id, MAX_SAFE)
  assert.equal(db.explain(probe, BigInt(MAX_SAFE)).id, MAX_SAFE) // bigint in, number out

  // persisted and reopened, the ids are still exact
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-ids-')), 'store')
  try {
    const p = await gnn.VectorDB.createAsync(dir, D)
    p.insertBatch([BIG, 5], rows.subarray(0, 2 * D))
    await p.saveAsync()
    const re = await gnn.VectorDB.openAsync(dir)
    assert.deepEqual(re.ids().sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), [5, BIG])
    assert.equal(re.search(rows.subarray(0, D), 1)[0].id, BIG)
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true })
  }
})

test('ids: numbers above MAX_SAFE_INTEGER and out-of-range bigints are rejected', () => {
  const db = gnn.VectorDB.inMemory(D)
  const v = randomRows(1, D, 1)
  assert.throws(() => db.insert(MAX_SAFE + 1, v), { code: 'ERR_INVALID_ARG', message: /MAX_SAFE_INTEGER.*bigint/ })
  assert.throws(() => db.insert(2n ** 64n, v), { code: 'ERR_INVALID_ARG', message: /0\.\.2\^64/ })
  assert.throws(() => db.insert(-1n, v), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => db.insertBatch([1, 2 ** 53 + 2], randomRows(2, D, 1)), { code: 'ERR_INVALID_ARG' })
  db.insert(MAX_SAFE, v)
  assert.equal(db.ids()[0], MAX_SAFE)
})

/** Asserts `fn` throws an Error whose `code` is `code` and message matches `message`. */
function throwsCode(fn, code, message) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `not an Error: ${e}`)
    assert.equal(e.code, code, `${e.message} (code ${e.code})`)
    if (message) assert.match(e.message, message)
    return true
  })
}

test('every error carries a stable ERR_* code', async () => {
  const codes = gnn.errorCodes()
  assert.ok(codes.length >= 10)
  assert.ok(codes.every((c) => /^ERR_[A-Z_]+$/.test(c)))
  assert.equal(new Set(codes).size, codes.length)

  const db = gnn.VectorDB.inMemory(D)
  const q = randomRows(1, D, 2)
  db.insertBatch([0, 1, 2, 3], randomRows(4, D, 3))
  // argument problems, from Rust checks and from napi's own type conversion
  throwsCode(() => db.search(q, -1), 'ERR_INVALID_ARG', /k must be non-negative/)
  throwsCode(() => db.search('not a vector', 1), 'ERR_INVALID_ARG')
  throwsCode(() => db.insert({}, q), 'ERR_INVALID_ARG')
  throwsCode(() => gnn.VectorDB.inMemory('8'), 'ERR_INVALID_ARG')
  throwsCode(() => new gnn.GCNLayer({ outputDim: 2 }), 'ERR_INVALID_ARG', /inputDim/)
  throwsCode(() => new gnn.VectorDB(), 'ERR_INVALID_ARG')
  throwsCode(() => gnn.VectorDB.inMemory(D, { metric: 'hamming' }), 'ERR_INVALID_ARG', /unknown metric/)
  // shapes, values, ids
  throwsCode(() => db.search(q.subarray(1), 1), 'ERR_DIMENSION_MISMATCH', /expected 8 dimensions, got 7/)
  throwsCode(() => db.insertBatch([7, 8], q), 'ERR_DIMENSION_MISMATCH')
  throwsCode(() => db.insert(9, new Float32Array(D).fill(NaN)), 'ERR_NOT_FINITE')
  throwsCode(() => db.insert(9, new Float32Array(D)), 'ERR_INVALID_ARG', /all zeros/)
  throwsCode(() => gnn.VectorDB.inMemory(2, { metric: 'dot' }).insert(1, new Float32Array([3, 4])), 'ERR_INVALID_VECTOR', /norm/)
  throwsCode(() => db.insertBatch([7, 7], randomRows(2, D, 4)), 'ERR_INVALID_ARG', /duplicate id 7/)
  throwsCode(() => db.recordFeedback(q, [0, 1], [BIG]), 'ERR_UNKNOWN_ID', /unknown id 1152921504606846983/)
  throwsCode(() => db.explain(q, 42), 'ERR_UNKNOWN_ID')
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 3 })
  throwsCode(() => gcn.forward(randomRows(3, D, 1), 3, [[1], [2], [3]]), 'ERR_INVALID_ARG', /out of range/)
  throwsCode(() => gcn.forward(randomRows(2, D, 1).fill(Infinity), 2, ring(2)), 'ERR_NOT_FINITE')
  // files
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-err-'))
  try {
    throwsCode(() => gnn.VectorDB.open(path.join(dir, 'none')), 'ERR_CORRUPT', /not a ruvector-gnn store/)
    throwsCode(() => gnn.GCNLayer.load(path.join(dir, 'missing.safetensors')), 'ERR_IO')
    const junk = path.join(dir, 'junk.safetensors')
    fs.writeFileSync(junk, 'definitely not safetensors')
    throwsCode(() => gnn.GCNLayer.load(junk), 'ERR_CORRUPT')
    throwsCode(() => gnn.GNNEmbedder.fromBytes(Buffer.from('nope')), 'ERR_CORRUPT')
    const w = path.join(dir, 'gcn.safetensors')
    gcn.saveWeights(w)
    throwsCode(() => new gnn.GCNLayer({ inputDim: D, outputDim: 5 }).loadWeights(w), 'ERR_MODEL_MISMATCH')
    throwsCode(() => new gnn.GATLayer({ inputDim: D, outputDim: 3 }).loadWeights(w), 'ERR_MODEL_MISMATCH')
    // async rejections carry the same codes (built in `resolve`, not napi Status)
    const rejectsCode = (p, code) =>
      assert.rejects(p, (e) => {
        assert.ok(e instanceof Error)
        assert.equal(e.code, code, `${e.message} (code ${e.code})`)
        return true
      })
    await rejectsCode(gnn.VectorDB.openAsync(path.join(dir, 'none')), 'ERR_CORRUPT')
    await rejectsCode(db.insertBatchAsync([9], new Float32Array(D).fill(NaN)), 'ERR_NOT_FINITE')
    await rejectsCode(db.insertBatchAsync([5, 5], randomRows(2, D, 5)), 'ERR_INVALID_ARG')
    await rejectsCode(db.searchBatchAsync(new Float32Array(D).fill(NaN), 1), 'ERR_NOT_FINITE')
    await rejectsCode(db.searchBatchAsync(q, 0), 'ERR_INVALID_ARG')
    await rejectsCode(gcn.forwardAsync(randomRows(2, D, 1).fill(NaN), 2, ring(2)), 'ERR_NOT_FINITE')
    const existing = path.join(dir, 'store')
    gnn.VectorDB.create(existing, D)
    await rejectsCode(gnn.VectorDB.createAsync(existing, D), 'ERR_INVALID_ARG')
    // argument checks of async calls throw synchronously, coded
    throwsCode(() => db.trainAsync({ epochs: -1 }), 'ERR_INVALID_ARG')
    throwsCode(() => db.searchBatchAsync(q.subarray(1), 1), 'ERR_DIMENSION_MISMATCH')
    throwsCode(() => gnn.VectorDB.createAsync(existing, -3), 'ERR_INVALID_ARG')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
