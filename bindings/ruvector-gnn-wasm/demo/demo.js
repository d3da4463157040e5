// The demo page: everything runs in this tab (no server code, no network after load).
import init, { VectorDB, isaName } from '../pkg/ruvector_gnn_wasm.js'

const $ = (id) => document.getElementById(id)
const K = 10
const EPOCHS = 10
const state = { db: null, data: null, answers: null, questions: null, events: [], current: null, lastRanks: null }

function dequantize(buf, rows, dim) {
  const scales = new Float32Array(buf, 0, rows)
  const q = new Int8Array(buf, rows * 4, rows * dim)
  const out = new Float32Array(rows * dim)
  for (let i = 0; i < rows; i++) for (let j = 0; j < dim; j++) out[i * dim + j] = q[i * dim + j] * scales[i]
  return out
}

const words = (s) => new Set(s.toLowerCase().match(/[a-z0-9']+/g) || [])
/** The bundled question closest to free text (word overlap), or an exact pick. */
function matchQuestion(text) {
  const exact = state.data.questions.findIndex((q) => q.text === text)
  if (exact >= 0) return exact
  const w = words(text)
  let best = -1, bestScore = 0
  state.data.questions.forEach((q, i) => {
    const v = words(q.text)
    let inter = 0
    for (const x of w) if (v.has(x)) inter++
    const score = inter / (w.size + v.size - inter || 1)
    if (score > bestScore) { best = i; bestScore = score }
  })
  return best
}

const queryVec = (qi) => state.questions.subarray(qi * state.data.dim, (qi + 1) * state.data.dim)

function setStatus(s) { $('status').textContent = s }

/** Past users: each bundled question was asked by USERS_PER_QUESTION people (its
 * embedding plus a little seeded noise, as paraphrases would be) who chose its known
 * answer. */
const USERS_PER_QUESTION = 2
function seedHistory() {
  let s = 12345
  const noise = () => { s = (s * 16807) % 2147483647; return (s / 2147483647 - 0.5) * 0.02 }
  state.data.questions.forEach((q, qi) => {
    for (let u = 0; u < USERS_PER_QUESTION; u++) {
      const v = Float32Array.from(queryVec(qi), (x) => x + noise())
      const shown = state.db.search(v, K).map((h) => h.id)
      state.db.recordFeedback(v, shown, q.relevant)
      state.events.push({ question: q.text, chosen: q.relevant })
    }
  })
}

function train(label) {
  const t = performance.now()
  const rep = state.db.train({ epochs: EPOCHS, seed: 1 })
  const ms = performance.now() - t
  setStatus(`${label}: trained on ${state.db.stats().feedbackEvents} feedback events in ${(ms / 1000).toFixed(1)} s` +
    ` (published: ${rep.published}, validation MRR ${rep.previousMrr.toFixed(3)} → ${rep.trainedMrr.toFixed(3)})`)
  document.body.dataset.trained = String(Number(document.body.dataset.trained || 0) + 1)
  return rep
}

function render(hits, clickedId) {
  const q = state.data.questions[state.current]
  const list = $('results')
  list.innerHTML = ''
  const ranks = new Map(hits.map((h, i) => [h.id, i]))
  hits.forEach((h, i) => {
    const li = document.createElement('li')
    li.dataset.id = h.id
    li.dataset.rank = i
    if (q.relevant.includes(h.id)) li.classList.add('relevant')
    if (h.id === clickedId) li.classList.add('clicked')
    const prev = state.lastRanks?.get(h.id)
    let move = '<span class="move same">new</span>'
    if (prev === undefined && state.lastRanks) move = '<span class="move up">new ↑</span>'
    else if (prev !== undefined) {
      const d = prev - i
      move = d > 0 ? `<span class="move up">▲ ${d}</span>` : d < 0 ? `<span class="move down">▼ ${-d}</span>` : '<span class="move same">=</span>'
    }
    if (!state.lastRanks) move = ''
    const a = state.data.answers[h.id]
    li.innerHTML = `${move} <span class="text"></span> <span class="score">score ${h.score.toFixed(3)} · ${a.category}</span> <button class="pick">this one</button>`
    li.querySelector('.text').textContent = a.text
    li.querySelector('.pick').addEventListener('click', () => pick(h.id, hits))
    list.appendChild(li)
  })
  state.lastRanks = ranks
}

function search() {
  const text = $('query').value.trim()
  if (!text) return
  const qi = matchQuestion(text)
  if (qi < 0) { setStatus('No bundled question shares a word with that; pick one from the list.'); return }
  state.current = qi
  state.lastRanks = null
  $('matched').textContent = state.data.questions[qi].text === text ? '' : `(closest question: “${state.data.questions[qi].text}”)`
  render(state.db.searchWithGnn(queryVec(qi), K), null)
  $('explain').innerHTML = '<p class="hint">Click the answer you wanted (“this one”).</p>'
  document.body.dataset.searched = String(Number(document.body.dataset.searched || 0) + 1)
}

function pick(id, shownHits) {
  const v = queryVec(state.current)
  const shown = shownHits.map((h) => h.id)
  state.db.recordFeedback(v, shown, [id])
  state.events.push({ question: state.data.questions[state.current].text + ' (you)', chosen: [id] })
  setStatus('Retraining…')
  // Let the status paint before the (synchronous) training round.
  setTimeout(() => {
    train('Retrained')
    const hits = state.db.searchWithGnn(v, K)
    render(hits, id)
    explain(id)
    document.body.dataset.picked = String(id)
  }, 20)
}

function explain(id) {
  const ex = state.db.explain(queryVec(state.current), id)
  const box = $('explain')
  const top = [...ex.attention].sort((a, b) => b.weight - a.weight).slice(0, 6)
  const rows = top.map((a) => {
    const ev = state.events[a.event]
    return `<tr><td><span class="bar" style="width:${Math.round(a.weight * 120)}px"></span>${a.weight.toFixed(2)}</td><td>${ev ? escape(ev.question) : 'event ' + a.event}</td></tr>`
  }).join('')
  const feats = ex.features.map((f) => `<tr><td>${escape(f.name)}</td><td>${f.value.toFixed(3)}</td></tr>`).join('')
  box.innerHTML = `<p><b>${escape(state.data.answers[id].text)}</b><br>model score ${ex.score.toFixed(3)} (cosine ${ex.base.toFixed(3)}, GNN tower ${ex.gnn.toFixed(3)})</p>
    <h3>Attention over past questions that chose it</h3>
    ${rows ? `<table id="attention">${rows}</table>` : '<p class="hint">none</p>'}
    <h3>Message features</h3><table>${feats}</table>`
}

const escape = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

async function main() {
  await init()
  $('isa').textContent = isaName()
  const [data, bin] = await Promise.all([
    fetch('data/qa.json').then((r) => r.json()),
    fetch('data/qa.bin').then((r) => r.arrayBuffer()),
  ])
  state.data = data
  const na = data.answers.length, nq = data.questions.length
  const all = dequantize(bin, na + nq, data.dim)
  state.answers = all.subarray(0, na * data.dim)
  state.questions = all.subarray(na * data.dim)
  $('n-answers').textContent = String(na)
  const list = $('questions')
  for (const q of data.questions) {
    const o = document.createElement('option')
    o.value = q.text
    list.appendChild(o)
  }
  let t = performance.now()
  state.db = VectorDB.fromVectors(state.answers, data.dim)
  const built = performance.now() - t
  seedHistory()
  setStatus(`Indexed ${na} answers in ${built.toFixed(0)} ms; training on ${nq} past users' feedback…`)
  await new Promise((r) => setTimeout(r, 20))
  train('Ready')
  $('search').disabled = false
  document.body.dataset.ready = '1'
}

$('search').addEventListener('click', search)
$('query').addEventListener('keydown', (e) => { if (e.key === 'Enter') search() })
main().catch((e) => { setStatus('Error: ' + e.message); console.error(e) })
