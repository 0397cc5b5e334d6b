'use strict'
// Hand-written entry point over the generated binding (binding.js / binding.d.ts are build
// outputs: never edit them). Its one job: turn the engine's error reasons
// "[TW:<CODE>:<culprits>] message" into real errors with a stable `err.code` and `err.culprits`.

const binding = require('./binding.js')

const REASON = /^\[TW:([A-Z_]+):([0-9,]*)\] ([\s\S]*)$/

function decorate(err) {
  if (err && typeof err.message === 'string') {
    const m = REASON.exec(err.message)
    if (m) {
      err.code = m[1]
      err.culprits = m[2] ? m[2].split(',').map(Number) : []
      err.message = m[3]
    }
  }
  return err
}

function wrap(fn) {
  return function wrapped(...args) {
    let out
    try {
      out = fn.apply(this, args)
    } catch (err) {
      throw decorate(err)
    }
    if (out && typeof out.then === 'function') {
      return out.then(undefined, (err) => {
        throw decorate(err)
      })
    }
    return out
  }
}

const proto = binding.ClusterNode.prototype
for (const name of Object.getOwnPropertyNames(proto)) {
  const desc = Object.getOwnPropertyDescriptor(proto, name)
  if (name !== 'constructor' && desc && typeof desc.value === 'function') {
    Object.defineProperty(proto, name, { ...desc, value: wrap(desc.value) })
  }
}

const exported = {}
for (const [name, value] of Object.entries(binding)) {
  exported[name] = typeof value === 'function' && name !== 'ClusterNode' ? wrap(value) : value
}

module.exports = exported
