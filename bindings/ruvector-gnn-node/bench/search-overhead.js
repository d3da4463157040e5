'use strict'
// Per-call overhead of VectorDB.search from JS vs the same calls in Rust.
// Usage (after `npx napi build --platform --release --js binding.js --no-const-enum`):
//   node bench/search-overhead.js [rounds=5]
// Builds a store in a temp dir, then alternates rounds of timed `search` calls
// from JS and runs of the Rust example `search_overhead` on the same store and
// queries (built for the same --target as the napi build, so no second
// compile of the workspace). Reports the best round of each (the least
// disturbed by other load) and the median of the per-round differences.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
// The raw napi method, captured before index.js patches the prototype in place.
const rawSearch = require('../binding.js').VectorDB.prototype.search
const { VectorDB } = require('..')
const { randomRows } = require('../test/helpers')

const N = 5000
const D = 64
const K = 10
const CALLS = 20000
const ROUNDS = Number(process.argv[2] ?? 5)
const TARGET = 'x86_64-unknown-linux-gnu'
const root = path.resolve(__dirname, '../../..')

execFileSync(
  'cargo',
  ['build', '--release', '--quiet', '--target', TARGET, '-p', 'ruvector-gnn-node', '--example', 'search_overhead'],
  { cwd: root, stdio: 'inherit' },
)
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target')
const rustBin = path.join(targetDir, TARGET, 'release', 'examples', 'search_overhead')

const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rvgnn-bench-')), 'store')
const built = VectorDB.create(dir, D)
built.insertBatch(Array.from({ length: N }, (_, i) => i), randomRows(N, D, 1))
built.save()
// Time a freshly opened store, exactly as the Rust example opens it (a store
// built by inserts lays its index out differently in memory than a loaded one).
const db = VectorDB.open(dir)
const all = db.getAllVectors()
const queries = Array.from({ length: 100 }, (_, i) => all.slice(i * D, (i + 1) * D))

/** Mean µs per call of `calls` searches on `store` (through `search`). */
function timeJs(store, k, calls, search = store.search) {
  for (let i = 0; i < 2000; i++) search.call(store, queries[i % 100], k) // warm-up
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) search.call(store, queries[i % 100], k)
  return Number(process.hrtime.bigint() - t0) / 1e3 / calls
}

function timeRust() {
  const out = execFileSync(rustBin, [dir, String(K), String(CALLS)], { encoding: 'utf8' })
  return Number(/us_per_call=([\d.]+)/.exec(out)[1])
}

/** µs per query of one searchBatchAsync over `calls` queries: the Rust search
 * loop run inside this node process (plus converting all hits at the end). */
async function timeInProcessRust(calls) {
  const flat = new Float32Array(calls * D)
  for (let i = 0; i < calls; i++) flat.set(queries[i % 100], i * D)
  const t0 = process.hrtime.bigint()
  await db.searchBatchAsync(flat, K)
  return Number(process.hrtime.bigint() - t0) / 1e3 / calls
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (xs) => xs.map((x) => x.toFixed(1)).join(' ')

async function main() {
  const js = []
  const rust = []
  const inNode = []
  for (let r = 0; r < ROUNDS; r++) {
    js.push(timeJs(db, K, CALLS))
    inNode.push(await timeInProcessRust(CALLS))
    rust.push(timeRust())
  }
  const diffs = js.map((j, i) => j - rust[i])
  const diffsInNode = js.map((j, i) => j - inNode[i])
  console.log(`N=${N} D=${D} k=${K} calls=${CALLS} rounds=${ROUNDS} load=${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`js search                    best ${Math.min(...js).toFixed(2)} us/call (rounds: ${fmt(js)})`)
  console.log(`rust example (own process)   best ${Math.min(...rust).toFixed(2)} us/call (rounds: ${fmt(rust)})`)
  console.log(`rust loop in node (batch)    best ${Math.min(...inNode).toFixed(2)} us/call (rounds: ${fmt(inNode)})`)
  console.log(`js - rust example: best-vs-best ${(Math.min(...js) - Math.min(...rust)).toFixed(2)}, median per round ${median(diffs).toFixed(2)} us/call`)
  console.log(`js - rust loop in node: best-vs-best ${(Math.min(...js) - Math.min(...inNode)).toFixed(2)}, median per round ${median(diffsInNode).toFixed(2)} us/call`)

  // The binding cost alone: a 1-vector store makes the Rust work tiny. Through the
  // package entry (index.js, with the error-code wrapper) and through the raw napi
  // method (binding.js), alternated.
  const tiny = VectorDB.inMemory(D)
  tiny.insert(0, queries[0])
  const viaIndex = []
  const viaRaw = []
  for (let r = 0; r < ROUNDS; r++) {
    viaIndex.push(timeJs(tiny, 1, CALLS))
    viaRaw.push(timeJs(tiny, 1, CALLS, rawSearch))
  }
  console.log(`1-vector store, k=1 (binding cost upper bound): index.js best ${Math.min(...viaIndex).toFixed(2)} us/call, raw binding.js best ${Math.min(...viaRaw).toFixed(2)} us/call`)
}

main().finally(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }))
