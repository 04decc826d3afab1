// A TCP proxy that adds a fixed delay each way, for the bench's round-trip mode: one listener per lab
// host, every byte held back `--delay-ms` before it is passed on, in order, both directions. It also
// counts, per listener, the connections and the client's "turns": a burst of bytes from the client
// that follows bytes from the server (the client had to hear from the server before it spoke again).
// Turns are an upper bound on the round trips a run waited for: a window adjust or a keepalive that
// answers server data counts as a turn too. The TCP handshake itself is not delayed.
//
// usage: node latency-proxy.js --delay-ms 50 --map 127.77.240.1:2222=127.77.240.1:22[,...]
// prints "ready" once every listener is up; then answers lines on stdin:
//   "take" -> one JSON line {"<listen host>": {"connections": n, "turns": n}} and zeroes the counts
import net from 'node:net'
import readline from 'node:readline'

function arg(name) {
  const i = process.argv.indexOf(name)
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`)
  return process.argv[i + 1]
}

const delayMs = Number(arg('--delay-ms'))
if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error('--delay-ms needs a number >= 0')
const maps = arg('--map')
  .split(',')
  .filter(Boolean)
  .map((m) => {
    const [from, to] = m.split('=')
    const split = (hp) => {
      const i = hp.lastIndexOf(':')
      return {host: hp.slice(0, i), port: Number(hp.slice(i + 1))}
    }
    return {from: split(from), to: split(to)}
  })

/** listen host -> counts since the last "take" */
const counts = new Map(maps.map((m) => [m.from.host, {connections: 0, turns: 0}]))

/**
 * Pass `src`'s bytes to `dst` `delayMs` later, in order; the end too. One timer per direction at a
 * time keeps the order even when timers fire late.
 */
function delayedPipe(src, dst, onChunk) {
  const queue = [] // {at, chunk | null (end)}
  let timer = null
  const flush = () => {
    timer = null
    const now = performance.now()
    while (queue.length && queue[0].at <= now + 0.5) {
      const {chunk} = queue.shift()
      if (chunk === null) dst.end()
      else if (!dst.destroyed) dst.write(chunk)
    }
    if (queue.length) timer = setTimeout(flush, Math.max(0, queue[0].at - performance.now()))
  }
  const push = (chunk) => {
    queue.push({at: performance.now() + delayMs, chunk})
    timer ??= setTimeout(flush, delayMs)
  }
  src.on('data', (chunk) => {
    onChunk()
    push(chunk)
  })
  src.on('end', () => push(null))
}

function listen({from, to}) {
  const c = counts.get(from.host)
  const server = net.createServer((client) => {
    c.connections++
    const upstream = net.connect({host: to.host, port: to.port})
    let last = 'server' // the client speaks first after connecting: that opens its first turn
    delayedPipe(client, upstream, () => {
      if (last === 'server') c.turns++
      last = 'client'
    })
    delayedPipe(upstream, client, () => {
      last = 'server'
    })
    const kill = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', kill)
    upstream.on('error', kill)
    client.on('close', () => setTimeout(() => upstream.destroy(), delayMs + 50))
    upstream.on('close', () => setTimeout(() => client.destroy(), delayMs + 50))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(from.port, from.host, () => resolve(server))
  })
}

await Promise.all(maps.map(listen))
process.stdout.write('ready\n')
const rl = readline.createInterface({input: process.stdin})
rl.on('line', (line) => {
  if (line.trim() !== 'take') return
  process.stdout.write(JSON.stringify(Object.fromEntries(counts)) + '\n')
  for (const c of counts.values()) Object.assign(c, {connections: 0, turns: 0})
})
rl.on('close', () => process.exit(0))
