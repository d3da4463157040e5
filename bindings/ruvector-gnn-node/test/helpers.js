'use strict'
// Shared deterministic helpers for the test suite.

/** mulberry32: a tiny seeded PRNG (deterministic tests). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `n × d` row-major Float32Array of uniform values in [-0.5, 0.5). */
function randomRows(n, d, seed) {
  const r = rng(seed)
  const out = new Float32Array(n * d)
  for (let i = 0; i < out.length; i++) out[i] = r() - 0.5
  return out
}

/** A ring graph over n nodes (each node linked to its two neighbours). */
function ring(n) {
  return Array.from({ length: n }, (_, i) => [(i + 1) % n, (i + n - 1) % n])
}

module.exports = { rng, randomRows, ring }
