// Writes the demo's bundled data set from the repo's data/chatterbot_qa (run from
// this folder: `node make-data.mjs`): the answers and questions of a few categories,
// their all-MiniLM-L6-v2 embeddings as int8 with one f32 scale per row (qa.bin),
// and the texts plus which answers are relevant to each question (qa.json).
import { readFileSync, writeFileSync } from 'node:fs'

const SRC = '../../../data/chatterbot_qa'
const CATEGORIES = new Set(['ai', 'coding', 'science', 'computers', 'tech_support', 'money', 'sports'])

function npy(path) {
  const b = readFileSync(path)
  const hlen = b.readUInt16LE(8)
  const header = b.subarray(10, 10 + hlen).toString('latin1')
  const shape = header.match(/'shape': \((\d+), (\d+)\)/).slice(1).map(Number)
  if (!header.includes("'<f4'")) throw new Error(`${path}: expected little-endian f32`)
  const off = 10 + hlen
  const data = new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + off + shape[0] * shape[1] * 4))
  return { rows: shape[0], dim: shape[1], data }
}
const jsonl = (p) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l))

const base = npy(`${SRC}/base.npy`)
const queries = npy(`${SRC}/queries.npy`)
const corpus = jsonl(`${SRC}/corpus.jsonl`)
const qtexts = jsonl(`${SRC}/queries.jsonl`)
const qrels = readFileSync(`${SRC}/qrels.tsv`, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t').map(Number))

const answerRows = corpus.map((c, i) => (CATEGORIES.has(c.category) ? i : -1)).filter((i) => i >= 0)
const answerIndex = new Map(answerRows.map((r, i) => [r, i]))
const relevant = new Map()
for (const [q, d, s] of qrels) {
  if (s > 0 && answerIndex.has(d)) {
    if (!relevant.has(q)) relevant.set(q, [])
    relevant.get(q).push(answerIndex.get(d))
  }
}
const questionRows = [...relevant.keys()].sort((a, b) => a - b)

const dim = base.dim
const rows = [...answerRows.map((r) => base.data.subarray(r * dim, (r + 1) * dim)), ...questionRows.map((r) => queries.data.subarray(r * dim, (r + 1) * dim))]
const scales = new Float32Array(rows.length)
const q8 = new Int8Array(rows.length * dim)
rows.forEach((v, i) => {
  const m = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0) || 1
  scales[i] = m / 127
  for (let j = 0; j < dim; j++) q8[i * dim + j] = Math.round(v[j] / scales[i])
})
writeFileSync('data/qa.bin', Buffer.concat([Buffer.from(scales.buffer), Buffer.from(q8.buffer)]))
writeFileSync('data/qa.json', JSON.stringify({
  source: 'chatterbot-corpus (BSD-3-Clause) via data/chatterbot_qa; embeddings: all-MiniLM-L6-v2; see ../../../../data/chatterbot_qa/LICENSE.md',
  dim,
  answers: answerRows.map((r) => ({ text: corpus[r].text, category: corpus[r].category })),
  questions: questionRows.map((r) => ({ text: qtexts[r].text, category: qtexts[r].category, relevant: relevant.get(r) })),
}))
console.log(`answers ${answerRows.length}, questions ${questionRows.length}, dim ${dim}, qa.bin ${scales.byteLength + q8.byteLength} bytes`)
