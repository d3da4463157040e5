'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const gnn = require('..')
const { randomRows, ring } = require('./helpers')

const N = 12
const D = 8
const x = randomRows(N, D, 1)
const adj = ring(N)

test('version', () => {
  assert.match(gnn.version(), /^\d+\.\d+\.\d+/)
})

test('GCNLayer forward shape and determinism', () => {
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 4 })
  assert.equal(gcn.inputDim, D)
  assert.equal(gcn.outputDim, 4)
  const y = gcn.forward(x, N, adj)
  assert.ok(y instanceof Float32Array)
  assert.equal(y.length, N * 4)
  assert.deepEqual(gcn.forward(x, N, adj), y)
  assert.ok(y.every(Number.isFinite))
})

test('GCNLayer activations', () => {
  for (const activation of ['relu', 'leakyRelu', 'elu', 'gelu', 'tanh']) {
    const l = new gnn.GCNLayer({ inputDim: D, outputDim: 3, activation })
    assert.equal(l.forward(x, N, adj).length, N * 3)
  }
  assert.throws(() => new gnn.GCNLayer({ inputDim: D, outputDim: 3, activation: 'nope' }), {
    code: 'ERR_INVALID_ARG',
    message: /unknown activation/,
  })
})

test('GATLayer forwardWithAttention', () => {
  const gat = new gnn.GATLayer({ inputDim: D, outputDim: 4, numHeads: 2 })
  assert.equal(gat.outputDim, 8)
  const { output, attention } = gat.forwardWithAttention(x, N, adj)
  assert.equal(output.length, N * 8)
  assert.equal(attention.length, N)
  for (const row of attention) {
    assert.equal(row.length, 3) // two neighbours + self
    const s = row.reduce((a, b) => a + b, 0)
    assert.ok(Math.abs(s - 1) < 1e-5, `attention sums to ${s}`)
  }
  // The inference forward fuses scores, softmax and the weighted sum per row,
  // so it may round differently from the attention-returning path (≤ 1e-6).
  const y = gat.forward(x, N, adj)
  assert.equal(y.length, output.length)
  for (let i = 0; i < y.length; i++) {
    assert.ok(Math.abs(y[i] - output[i]) <= 1e-6, `output ${i}: ${y[i]} vs ${output[i]}`)
  }
})

test('GraphSAGE forward', () => {
  const sage = new gnn.GraphSAGE({ inputDim: D, outputDim: 5, numLayers: 2, aggregator: 'max' })
  const y = sage.forward(x, N, adj)
  assert.equal(y.length, N * 5)
  assert.throws(() => new gnn.GraphSAGE({ inputDim: D, outputDim: 5, aggregator: 'median' }), {
    code: 'ERR_INVALID_ARG',
  })
})

test('saveWeights / loadWeights / load / toBytes / fromBytes round trip', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-w-'))
  try {
    const cases = [
      [gnn.GCNLayer, () => new gnn.GCNLayer({ inputDim: D, outputDim: 4 })],
      [gnn.GATLayer, () => new gnn.GATLayer({ inputDim: D, outputDim: 4, numHeads: 2 })],
      [gnn.GraphSAGE, () => new gnn.GraphSAGE({ inputDim: D, outputDim: 4 })],
    ]
    for (const [Cls, make] of cases) {
      const a = make()
      const y = a.forward(x, N, adj)
      const file = path.join(dir, `${Cls.name}.safetensors`)
      a.saveWeights(file)
      const b = make()
      b.loadWeights(file)
      assert.deepEqual(b.forward(x, N, adj), y, `${Cls.name} loadWeights`)
      assert.deepEqual(Cls.load(file).forward(x, N, adj), y, `${Cls.name} load`)
      const bytes = a.toBytes()
      assert.ok(Buffer.isBuffer(bytes))
      assert.deepEqual(Cls.fromBytes(bytes).forward(x, N, adj), y, `${Cls.name} fromBytes`)
    }
    // Loading weights of another shape fails with the Rust message.
    const other = new gnn.GCNLayer({ inputDim: D, outputDim: 7 })
    assert.throws(() => other.loadWeights(path.join(dir, 'GCNLayer.safetensors')), { code: 'ERR_MODEL_MISMATCH' })
    assert.throws(() => gnn.GCNLayer.load(path.join(dir, 'missing.safetensors')), { code: 'ERR_IO' })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('quantize GCN and GAT to f16 / int8', () => {
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 4 })
  const y = gcn.forward(x, N, adj)
  for (const p of ['f32', 'f16', 'int8']) {
    const q = gcn.quantize(p)
    assert.equal(q.precision, p)
    assert.equal(q.inputDim, D)
    assert.equal(q.outputDim, 4)
    const yq = q.forward(x, N, adj)
    assert.equal(yq.length, y.length)
    const err = Math.max(...yq.map((v, i) => Math.abs(v - y[i])))
    assert.ok(err < 0.1, `${p} max error ${err}`)
    const back = gnn.QuantizedModel.fromBytes(q.toBytes())
    assert.deepEqual(back.forward(x, N, adj), yq)
  }
  const gat = new gnn.GATLayer({ inputDim: D, outputDim: 4 })
  assert.equal(gat.quantize('int8').forward(x, N, adj).length, N * 4)
  assert.throws(() => gcn.quantize('int4'), { code: 'ERR_INVALID_ARG', message: /unknown precision/ })
})

test('layer argument errors: negative sizes, mismatched lengths, bad neighbours', () => {
  assert.throws(() => new gnn.GCNLayer({ inputDim: -1, outputDim: 4 }), {
    code: 'ERR_INVALID_ARG',
    message: /inputDim must be non-negative/,
  })
  assert.throws(() => new gnn.GCNLayer({ inputDim: 2.5, outputDim: 4 }), { code: 'ERR_INVALID_ARG' })
  const gcn = new gnn.GCNLayer({ inputDim: D, outputDim: 4 })
  assert.throws(() => gcn.forward(x, -3, adj), { code: 'ERR_INVALID_ARG', message: /numNodes must be non-negative/ })
  assert.throws(() => gcn.forward(x.subarray(1), N, adj), { code: 'ERR_DIMENSION_MISMATCH', message: /expected 12 x 8 = 96 values, got 95/ })
  assert.throws(() => gcn.forward(x, N, adj.slice(1)), { code: 'ERR_INVALID_ARG', message: /expected 12 neighbour lists/ })
  assert.throws(() => gcn.forward(x, N, [[-1], ...adj.slice(1)]), { code: 'ERR_INVALID_ARG', message: /non-negative/ })
  assert.throws(() => gcn.forward(x, N, [[N], ...adj.slice(1)]), { code: 'ERR_INVALID_ARG', message: /out of range/ })
  assert.throws(() => gcn.forward([1, 2, 3], 1, [[]]), Error) // not a Float32Array
})
