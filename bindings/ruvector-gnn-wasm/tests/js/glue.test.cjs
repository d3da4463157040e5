// The JS side of the package (what wasm-bindgen-test cannot see from Rust): typed
// arrays and plain arrays cross, failures are thrown `Error`s with a `code`, never a
// `RuntimeError` (a wasm trap). Loads the Node-target build named by RUVECTOR_WASM_PKG
// (`cargo xtask wasm` builds it).
'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const gnn = require(path.join(process.env.RUVECTOR_WASM_PKG, 'ruvector_gnn_wasm.js'))
const D = 8
const rows = (n, seed) => {
  let s = seed
  return Float32Array.from({ length: n * D }, () => { s = (s * 16807) % 2147483647; return s / 2147483647 - 0.5 })
}
const throwsError = (fn, code, re) => assert.throws(fn, (e) => {
  assert.ok(e instanceof Error, 'an Error')
  assert.ok(!(e instanceof WebAssembly.RuntimeError), 'not a trap')
  assert.equal(e.code, code)
  assert.match(e.message, re)
  return true
})

test('VectorDB from a Float32Array; plain arrays work too', () => {
  const v = rows(30, 3)
  const db = gnn.VectorDB.fromVectors(v, D)
  assert.equal(db.length, 30)
  const hits = db.search(v.subarray(0, D), 2)
  assert.equal(hits[0].id, 0)
  assert.deepEqual(Object.keys(hits[0]).sort(), ['distance', 'id', 'score'])
  db.insertBatch([100, 101], Array.from(rows(2, 9)))
  assert.equal(db.length, 32)
  assert.equal(db.searchWithGnn(Array.from(v.subarray(0, D)), 1)[0].id, 0)
  assert.equal(typeof gnn.version(), 'string')
  assert.equal(gnn.isaName(), 'simd128')
})

test('bad input throws Error with code, the instance stays usable', () => {
  const codes = gnn.errorCodes()
  assert.ok(codes.includes('ERR_NOT_FINITE') && codes.includes('ERR_CORRUPT'))
  assert.ok(codes.every((c) => /^ERR_[A-Z_]+$/.test(c)))
  const db = gnn.VectorDB.fromVectors(rows(10, 1), D)
  throwsError(() => db.search(new Float32Array(D).fill(NaN), 3), 'ERR_NOT_FINITE', /non-finite/)
  throwsError(() => db.search(new Float32Array(D - 1), 3), 'ERR_DIMENSION_MISMATCH', /expected 8 dimensions, got 7/)
  throwsError(() => db.search(rows(1, 2), 0), 'ERR_INVALID_ARG', /k must be at least 1/)
  throwsError(() => db.insert(-3, rows(1, 2)), 'ERR_INVALID_ARG', /non-negative/)
  throwsError(() => db.recordFeedback(rows(1, 2), [0], [999]), 'ERR_UNKNOWN_ID', /999/)
  throwsError(() => db.train({ epochs: 'many' }), 'ERR_INVALID_ARG', /epochs must be a number/)
  throwsError(() => new gnn.VectorDB(8, { metric: 'hamming' }), 'ERR_INVALID_ARG', /unknown metric/)
  throwsError(() => gnn.GNNEmbedder.fromBytes(new Uint8Array([1, 2, 3])), 'ERR_CORRUPT', /./)
  throwsError(() => new gnn.GNNEmbedder({ inputDim: D, tower: 'gcn' }), 'ERR_INVALID_ARG', /tower/)
  const gatTower = new gnn.GNNEmbedder({ inputDim: D, outputDim: 8, numHeads: 4, tower: 'gat' })
  assert.equal(gnn.GNNEmbedder.fromBytes(gatTower.toBytes()).inputDim, D)
  throwsError(() => gnn.GCNLayer.fromBytes(new Uint8Array(64).fill(255)), 'ERR_CORRUPT', /./)
  const gat = new gnn.GATLayer({ inputDim: D, outputDim: 2, numHeads: 2 })
  throwsError(() => gat.forward(rows(3, 1), 3, [[1], [2]]), 'ERR_DIMENSION_MISMATCH', /expected 3 neighbour lists/)
  throwsError(() => gat.forward(rows(3, 1), 3, [[1], [2], [7]]), 'ERR_INVALID_ARG', /out of range/)
  throwsError(() => gat.forward(rows(3, 1), 3, 'ring'), 'ERR_INVALID_ARG', /adjacency/)
  // still usable after the errors
  assert.equal(db.search(rows(1, 2), 3).length, 3)
  const out = gat.forwardWithAttention(rows(3, 1), 3, [[1], [2], [0]])
  assert.ok(out.output instanceof Float32Array)
  assert.equal(out.output.length, 3 * 4)
  assert.equal(out.attention.length, 3)
})

test('weights as Uint8Array round-trip; the model is not consumed by use', () => {
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 3 })
  const bytes = gcn.toBytes()
  assert.ok(bytes instanceof Uint8Array)
  const x = rows(4, 5)
  const adj = [[1], [2], [3], [0]]
  assert.deepEqual(gnn.GCNLayer.fromBytes(bytes).forward(x, 4, adj), gcn.forward(x, 4, adj))
  const db = gnn.VectorDB.fromVectors(rows(20, 4), D)
  const model = gnn.GNNEmbedder.fromBytes(db.model().toBytes())
  const q = rows(1, 6)
  assert.deepEqual(db.searchWithModel(q, 5, model), db.searchWithModel(q, 5, model))
  db.publish(model)
  assert.equal(model.inputDim, D)
})
