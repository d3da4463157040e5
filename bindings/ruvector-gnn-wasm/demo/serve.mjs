// A static file server for the demo (no internet needed): serves the package folder
// (bindings/ruvector-gnn-wasm) so that demo/ can import ../pkg/. Usage:
//   node demo/serve.mjs [port]   then open http://127.0.0.1:<port>/demo/
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.ts': 'text/plain' }

export function serve(port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '')
    let file = join(ROOT, path)
    if (!file.startsWith(ROOT)) { res.writeHead(403).end(); return }
    if (file.endsWith('/')) file += 'index.html'
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end('not found')
    }
  })
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] || 8080))
  console.log(`demo at http://127.0.0.1:${server.address().port}/demo/`)
}
