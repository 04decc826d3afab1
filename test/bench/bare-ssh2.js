// The floor for the audit benchmark: one Node process, the `ssh2` package, one connection per host,
// all hosts at once, one exec of the vendor's version query, close. No inventory, no planning, no
// rendering. It does check host keys (against a known_hosts file), like every other tool measured.
//
// usage: node bare-ssh2.js --hosts 127.77.240.1,127.77.240.2 --key KEY --known-hosts FILE (--command CMD | --command-file F) [--port P]
// prints one JSON document: {"versions": {"<addr>": "<stdout trimmed>"|null}, "errors": {"<addr>": "..."}}
import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'))
const {Client} = require('ssh2')

function arg(name) {
  const i = process.argv.indexOf(name)
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`)
  return process.argv[i + 1]
}

const hosts = arg('--hosts').split(',').filter(Boolean)
const privateKey = fs.readFileSync(arg('--key'))
const command = process.argv.includes('--command-file') ? fs.readFileSync(arg('--command-file'), 'utf8') : arg('--command')
const user = process.argv.includes('--user') ? arg('--user') : 'root'
const port = process.argv.includes('--port') ? Number(arg('--port')) : 22
/** The known_hosts name of a host (OpenSSH writes `[host]:port` for a port other than 22). */
const knownName = (host) => (port === 22 ? host : `[${host}]:${port}`)
/** address -> Set of base64 key blobs */
const known = new Map()
for (const line of fs.readFileSync(arg('--known-hosts'), 'utf8').split('\n')) {
  const [names, , blob] = line.trim().split(/\s+/)
  if (!names || !blob || names.startsWith('#')) continue
  for (const n of names.split(',')) {
    if (!known.has(n)) known.set(n, new Set())
    known.get(n).add(blob)
  }
}

function readVersion(host) {
  return new Promise((resolve) => {
    const c = new Client()
    let settled = false
    const finish = (v, err) => {
      if (settled) return
      settled = true
      c.end()
      resolve({v, err})
    }
    c.on('ready', () => {
      c.exec(command, (err, stream) => {
        if (err) return finish(null, String(err.message))
        let out = ''
        let errOut = ''
        stream.on('data', (d) => (out += d))
        stream.stderr.on('data', (d) => (errOut += d))
        stream.on('close', (code) => (code === 0 ? finish(out.trim(), null) : finish(null, `exit ${code}: ${errOut.trim()}`)))
      })
    })
    c.on('error', (e) => finish(null, String(e.message)))
    c.on('close', () => finish(null, 'connection closed'))
    c.connect({
      host,
      port,
      username: user,
      privateKey,
      readyTimeout: 30000,
      // callback form: ssh2 treats an async verifier as "accept" (ssh2 issue 1268)
      hostVerifier: (key, cb) => cb(known.get(knownName(host))?.has(key.toString('base64')) ?? false),
    })
  })
}

const results = await Promise.all(hosts.map(async (h) => [h, await readVersion(h)]))
const versions = {}
const errors = {}
for (const [h, r] of results) {
  versions[h] = r.v
  if (r.err) errors[h] = r.err
}
process.stdout.write(JSON.stringify({versions, errors}) + '\n')
