// Browser test of the demo (run by `cargo xtask wasm`): headless Debian Chromium via
// playwright-core loads the page from a local static server, runs a query, clicks the
// result ranked 5th, waits for the retrain and asserts the clicked answer moved up.
// Env: RUVECTOR_NODE_MODULES (where playwright-core is), RUVECTOR_SCREENSHOT (png path).
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { serve } from './serve.mjs'

const modules = process.env.RUVECTOR_NODE_MODULES || join(process.env.HOME, '.wasm-tools/node_modules')
const { chromium } = createRequire(join(modules, 'noop.js'))('playwright-core')
const shot = process.env.RUVECTOR_SCREENSHOT || 'wasm-demo.png'
const QUESTION = 'What is a computer?'
const CLICK_RANK = 4 // 0-based: the 5th result

const server = await serve(0)
const url = `http://127.0.0.1:${server.address().port}/demo/`
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
})
let failed = false
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } })
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  await page.goto(url)
  await page.waitForSelector('body[data-ready="1"]', { timeout: 240_000 })
  console.log('ready:', await page.textContent('#status'))
  await page.fill('#query', QUESTION)
  await page.click('#search')
  await page.waitForSelector('#results li')
  const before = await page.$$eval('#results li', (l) => l.map((x) => Number(x.dataset.id)))
  const target = before[CLICK_RANK]
  console.log(`query "${QUESTION}": clicking answer ${target} at rank ${CLICK_RANK + 1}`)
  await page.click(`#results li[data-id="${target}"] .pick`)
  await page.waitForSelector(`body[data-picked="${target}"]`, { timeout: 240_000 })
  const after = await page.$$eval('#results li', (l) => l.map((x) => Number(x.dataset.id)))
  const newRank = after.indexOf(target)
  console.log('status:', await page.textContent('#status'))
  console.log(`answer ${target}: rank ${CLICK_RANK + 1} -> ${newRank + 1}`)
  const attention = await page.$$eval('#attention tr', (r) => r.length)
  await page.screenshot({ path: shot, fullPage: true })
  console.log(`screenshot: ${shot}`)
  if (errors.length) throw new Error('page errors: ' + errors.join('; '))
  if (!(newRank >= 0 && newRank < CLICK_RANK)) throw new Error(`the clicked answer did not move up (rank ${CLICK_RANK + 1} -> ${newRank + 1})`)
  if (attention < 1) throw new Error('no attention explanation shown')
  console.log('browser test: 1 passed, 0 failed')
} catch (e) {
  failed = true
  console.error('browser test failed:', e.message)
  console.log('browser test: 0 passed, 1 failed')
} finally {
  await browser.close()
  server.close()
}
process.exit(failed ? 1 : 0)
