'use strict'
// Entry point of the `ruvector-gnn` package (hand-written; `binding.js` is the
// loader `napi build --platform --js binding.js` generates, `index.d.ts` its
// generated types, which describe these same exports).
//
// Errors raised by the Rust code already carry a stable `code` ('ERR_*').
// Errors napi raises itself before the Rust code runs (an argument of the wrong
// JS type, a missing required option) carry a napi `Status` name instead
// ('InvalidArg', 'NumberExpected', ...): this file maps those to
// 'ERR_INVALID_ARG' (or 'ERR_INTERNAL'), keeping the napi name in
// `napiStatus`, so every Error thrown or rejected by the package has an
// `ERR_*` code. Methods are patched onto the native prototypes in place, so
// instances made by Rust and `instanceof` are unchanged.

const native = require('./binding.js')

/** napi `Status` names that mean "bad argument from JS". */
const NAPI_ARG_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
  'DetachableArraybufferExpected',
  'StringContainsNull',
])

function withCode(e) {
  if (e instanceof Error && !(typeof e.code === 'string' && e.code.startsWith('ERR_'))) {
    const status = e.code
    try {
      e.napiStatus = status
      // napi's own argument checks throw without a code or with a Status name
      e.code = status === undefined || NAPI_ARG_STATUSES.has(status) ? 'ERR_INVALID_ARG' : 'ERR_INTERNAL'
    } catch {
      // a frozen error object: leave it as it is
    }
  }
  return e
}

function rethrow(e) {
  throw withCode(e)
}

function wrapFunction(fn) {
  const wrapped = function (...args) {
    let r
    try {
      r = fn.apply(this, args)
    } catch (e) {
      throw withCode(e)
    }
    return r instanceof Promise ? r.catch(rethrow) : r
  }
  Object.defineProperty(wrapped, 'name', { value: fn.name })
  Object.defineProperty(wrapped, 'length', { value: fn.length })
  return wrapped
}

/** Wraps every own method of a class prototype in place. */
function wrapMethods(proto) {
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === 'constructor') continue
    const d = Object.getOwnPropertyDescriptor(proto, key)
    if (d && typeof d.value === 'function' && (d.writable || d.configurable)) {
      Object.defineProperty(proto, key, { ...d, value: wrapFunction(d.value) })
    }
  }
}

/**
 * The exported class: a constructor function sharing the native prototype
 * (so `instanceof` holds for instances made by Rust factories too), whose
 * `new`, static methods and methods throw coded errors. (napi defines static
 * methods read-only and non-configurable, so they are re-exposed here rather
 * than patched.)
 */
function wrapClass(cls) {
  if (typeof cls !== 'function') return cls
  wrapMethods(cls.prototype)
  const Wrapped = function (...args) {
    if (new.target === undefined) {
      throw withCode(new TypeError(`Class constructor ${cls.name} cannot be invoked without 'new'`))
    }
    try {
      return Reflect.construct(cls, args, new.target === Wrapped ? cls : new.target)
    } catch (e) {
      throw withCode(e)
    }
  }
  Object.defineProperty(Wrapped, 'name', { value: cls.name })
  Object.defineProperty(Wrapped, 'prototype', { value: cls.prototype })
  for (const key of Object.getOwnPropertyNames(cls)) {
    if (['length', 'name', 'prototype', 'arguments', 'caller'].includes(key)) continue
    const d = Object.getOwnPropertyDescriptor(cls, key)
    if (d && typeof d.value === 'function') {
      Object.defineProperty(Wrapped, key, { value: wrapFunction(d.value), enumerable: d.enumerable })
    }
  }
  return Wrapped
}

const GATLayer = wrapClass(native.GATLayer)
const GCNLayer = wrapClass(native.GCNLayer)
const GNNEmbedder = wrapClass(native.GNNEmbedder)
const GraphSAGE = wrapClass(native.GraphSAGE)
const QuantizedModel = wrapClass(native.QuantizedModel)
const VectorDB = wrapClass(native.VectorDB)

// Listed one by one so Node's ESM loader sees the named exports.
exports.__napiBindingTarget = native.__napiBindingTarget
exports.GATLayer = GATLayer
exports.JsGatLayer = GATLayer
exports.GCNLayer = GCNLayer
exports.JsGcnLayer = GCNLayer
exports.GNNEmbedder = GNNEmbedder
exports.JsGnnEmbedder = GNNEmbedder
exports.GraphSAGE = GraphSAGE
exports.JsGraphSage = GraphSAGE
exports.QuantizedModel = QuantizedModel
exports.JsQuantizedModel = QuantizedModel
exports.VectorDB = VectorDB
exports.JsVectorDb = VectorDB
exports.errorCodes = wrapFunction(native.errorCodes)
exports.evalAsync = wrapFunction(native.evalAsync)
exports.version = wrapFunction(native.version)
