'use strict'
// Per-call overhead of VectorDB.search from JS vs the same calls in Rust.
// Usage (after `npx napi build --platform --release`):
//   node bench/search-overhead.js
// Builds a store in a temp dir, times `search` from JS, then runs the Rust
// example `search_overhead` on the same store and queries.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { VectorDB } = require('..')
const { randomRows } = require('../test/helpers')

const N = 5000
const D = 64
const K = 10
const CALLS = 20000
const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-bench-')), 'store')
const db = VectorDB.create(dir, D)
db.insertBatch(Array.from({ length: N }, (_, i) => i), randomRows(N, D, 1))
db.save()
const all = db.getAllVectors()
const queries = Array.from({ length: 100 }, (_, i) => all.slice(i * D, (i + 1) * D))
for (let i = 0; i < 2000; i++) db.search(queries[i % 100], K) // warm-up
const t0 = process.hrtime.bigint()
for (let i = 0; i < CALLS; i++) db.search(queries[i % 100], K)
const js = Number(process.hrtime.bigint() - t0) / 1e3 / CALLS
const root = path.resolve(__dirname, '../../..')
const out = execFileSync(
  'cargo',
  ['run', '--release', '--quiet', '-p', 'ruvector-gnn-node', '--example', 'search_overhead', '--', dir, String(K), String(CALLS)],
  { cwd: root, encoding: 'utf8' },
)
const rust = Number(/us_per_call=([\d.]+)/.exec(out)[1])
console.log(`N=${N} D=${D} k=${K} calls=${CALLS}`)
console.log(`js   ${js.toFixed(2)} us/call`)
console.log(`rust ${rust.toFixed(2)} us/call`)
console.log(`overhead ${(js - rust).toFixed(2)} us/call`)
// Upper bound on the binding cost alone: a 1-vector store makes the Rust work tiny.
const tiny = VectorDB.inMemory(D)
tiny.insert(0, queries[0])
for (let i = 0; i < 2000; i++) tiny.search(queries[i % 100], 1)
const t1 = process.hrtime.bigint()
for (let i = 0; i < CALLS; i++) tiny.search(queries[i % 100], 1)
console.log(`js, 1-vector store, k=1: ${(Number(process.hrtime.bigint() - t1) / 1e3 / CALLS).toFixed(2)} us/call (binding cost upper bound)`)
fs.rmSync(path.dirname(dir), { recursive: true, force: true })
