'use strict'
// evalAsync: the held-out evaluation of the learning loop, off the event loop.
const test = require('node:test')
const assert = require('node:assert')
const { evalAsync } = require('..')
const { randomRows } = require('./helpers')

/** 60 documents, 30 queries each near one document (its relevant one). */
function dataset() {
  const dim = 8
  const base = randomRows(60, dim, 11)
  const queries = new Float32Array(30 * dim)
  const noise = randomRows(30, dim, 12)
  const qrels = []
  for (let q = 0; q < 30; q++) {
    const doc = (q * 7) % 60
    for (let j = 0; j < dim; j++) queries[q * dim + j] = base[doc * dim + j] + 0.3 * noise[q * dim + j]
    qrels.push({ query: q, doc })
  }
  return { dim, base, queries, qrels }
}

test('evalAsync measures static, linear and gnn at each checkpoint', async () => {
  const { dim, base, queries, qrels } = dataset()
  const cps = await evalAsync(base, queries, dim, qrels, { checkpoints: [0, 10], exact: true, seed: 3 })
  assert.deepStrictEqual(cps.map((c) => c.events), [0, 10])
  for (const c of cps) {
    for (const m of [c.static, c.linear, c.gnn]) {
      assert.ok(m.ndcg >= 0 && m.ndcg <= 1, `ndcg ${m.ndcg}`)
      assert.ok(m.recall >= 0 && m.recall <= 1)
      assert.ok(m.p99Us >= m.p50Us)
    }
  }
  // Before any feedback every learned system ranks like the index.
  assert.strictEqual(cps[0].gnn.ndcg, cps[0].static.ndcg)
})

test('evalAsync rejects bad input with coded errors', async () => {
  const { dim, base, queries, qrels } = dataset()
  await assert.rejects(async () => evalAsync(base, queries.subarray(1), dim, qrels), { code: 'ERR_DIMENSION_MISMATCH' })
  await assert.rejects(async () => evalAsync(base, queries, dim, [{ query: 0, doc: 999 }]), { code: 'ERR_UNKNOWN_ID' })
  await assert.rejects(async () => evalAsync(base, queries, dim, []), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(async () => evalAsync(base, queries, dim, qrels, { trainFraction: 1 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(async () => evalAsync(base, queries, dim, [{ query: 0, doc: 1, score: NaN }]), { code: 'ERR_NOT_FINITE' })
})
