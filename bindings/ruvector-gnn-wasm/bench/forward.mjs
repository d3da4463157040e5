// Times a layer forward in WebAssembly (run by `cargo xtask wasm bench` on the package's
// Node build and on a +simd128 build): GCN 128->64 and GAT 128->8x8 heads over 2,000 nodes with 10
// seeded neighbours each; prints the median of 15 runs after 3 warm-ups. The same workload
// runs natively in examples/forward_native.rs.
import { createRequire } from 'node:module'
import { join } from 'node:path'

const pkg = createRequire(import.meta.url)(join(process.argv[2], 'ruvector_gnn_wasm.js'))
const N = 2000, IN = 128, DEG = 10
let s = 7
const rnd = () => { s = (s * 16807) % 2147483647; return s / 2147483647 }
const x = Float32Array.from({ length: N * IN }, () => rnd() - 0.5)
const adj = Array.from({ length: N }, () => Array.from({ length: DEG }, () => Math.floor(rnd() * N)))
function time(name, f) {
  for (let i = 0; i < 3; i++) f()
  const t = []
  for (let i = 0; i < 15; i++) { const a = performance.now(); f(); t.push(performance.now() - a) }
  t.sort((a, b) => a - b)
  console.log(`${name} [${pkg.isaName()}]: median ${t[7].toFixed(2)} ms (min ${t[0].toFixed(2)})`)
}
const gcn = new pkg.GCNLayer({ inputDim: IN, outputDim: 64 })
const gat = new pkg.GATLayer({ inputDim: IN, outputDim: 8, numHeads: 8 })
time('GCN 128->64, 2000 nodes x 10 nbrs', () => gcn.forward(x, N, adj))
time('GAT 128->8x8h, 2000 nodes x 10 nbrs', () => gat.forward(x, N, adj))
