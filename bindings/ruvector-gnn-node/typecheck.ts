// Type-checked by `cargo xtask npm` with `tsc --strict`: uses index.d.ts as a
// TypeScript user would (not run).
import {
  VectorDB,
  GNNEmbedder,
  GCNLayer,
  GATLayer,
  GraphSAGE,
  QuantizedModel,
  version,
  errorCodes,
  evalAsync,
  type EvalCheckpoint,
  type ErrorCode,
  type Hit,
  type TrainReport,
  type Stats,
} from './index.js'

async function main(): Promise<void> {
  const cps: EvalCheckpoint[] = await evalAsync(new Float32Array(8), new Float32Array(4), 4, [{ query: 0, doc: 1 }], { exact: true, checkpoints: [0] })
  const gain: number = cps[0].gnn.ndcg / cps[0].static.ndcg
  const v: string = version()
  const db: VectorDB = VectorDB.inMemory(4, { metric: 'cosine', efSearch: 32 })
  db.insert(1, new Float32Array(4))
  db.insert(2n, new Float32Array(4))
  db.insertBatch([3, 4], new Float32Array(8))
  await db.insertBatchAsync([5], new Float32Array(4))
  const hits: Hit[] = db.search(new Float32Array(4), 3)
  const ids: Array<number | bigint> = hits.map((h) => h.id)
  const big: bigint = 2n ** 60n + 7n
  db.insert(big, new Float32Array(4))
  const first = hits[0].id
  const asBigint: bigint = typeof first === 'bigint' ? first : BigInt(first)
  const codes: ErrorCode[] = errorCodes()
  try {
    db.search(new Float32Array(3), 1)
  } catch (e) {
    const code = (e as Error & { code: ErrorCode }).code
    if (code === 'ERR_DIMENSION_MISMATCH' || code === 'ERR_NOT_FINITE') void code
  }
  const created: VectorDB = await VectorDB.createAsync('/tmp/rvgnn-typecheck', 4, { metric: 'l2' })
  const opened: VectorDB = await VectorDB.openAsync('/tmp/rvgnn-typecheck')
  await created.saveAsync()
  const batch: Hit[][] = await db.searchBatchAsync(new Float32Array(8), 2)
  db.recordFeedback(new Float32Array(4), ids, [ids[0]])
  const rep: TrainReport = await db.trainAsync({ epochs: 3 })
  const rep2: TrainReport = db.train()
  const learned: Hit[] = db.searchWithGnn(new Float32Array(4), 3)
  const ex = db.explain(new Float32Array(4), 1)
  const s: Stats = db.stats()
  db.save()
  const m: GNNEmbedder = new GNNEmbedder({ inputDim: 4, outputDim: 8 })
  const e: Float32Array = m.encode(new Float32Array(8), 2, [[1], [0]])
  const m2: GNNEmbedder = GNNEmbedder.fromBytes(m.toBytes())
  const gcn = new GCNLayer({ inputDim: 4, outputDim: 2, activation: 'relu' })
  const y: Float32Array = gcn.forward(new Float32Array(8), 2, [[1], [0]])
  const ya: Float32Array = await gcn.forwardAsync(new Float32Array(8), 2, [[1], [0]])
  const ea: Float32Array = await m.encodeAsync(new Float32Array(8), 2, [[1], [0]])
  const { output, attention } = new GATLayer({ inputDim: 4, outputDim: 2 }).forwardWithAttention(new Float32Array(8), 2, [[1], [0]])
  const att: number[][] = attention
  const sage = new GraphSAGE({ inputDim: 4, outputDim: 2, aggregator: 'mean' })
  const q: QuantizedModel = gcn.quantize('int8')
  gcn.saveWeights('/tmp/w.safetensors')
  gcn.loadWeights('/tmp/w.safetensors')
  void [v, asBigint, codes, opened, ya, ea, batch, rep, rep2, learned, ex.score, s.len, e, m2, y, output, att, sage.forward(y, 2, [[1], [0]]), q.precision]
}
void main
