// Bad input (subnet 15, lab "badinput"): every case exits 2, names file, line and key (for flags:
// the flag), opens no SSH connection, and with --json prints {"ok": false, "error": ...}.
// Each case points its inventory at its own "trap": a TCP listener on 127.77.<lab subnet>.<100+i>:22 that
// counts connections, so a case that reached for the network is caught by name.
// Shell text in values paths, remote dirs, host names and users is data: it never runs.
// The cases run in this process through the built command classes (runInProcess), plain and with
// --json; the few in SPAWNED also (or only) run as their own process (bin/run.js): the seams of
// the real entry point, stdin that is no terminal, and reads that would block the event loop.
//
//   npm run build && npx vitest run test/e2e/badinput.test.ts
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it, type ExpectStatic} from 'vitest'

import {lab, runCli, SECRETS, Workspace, type CliResult, type Lab, Workspaces} from './fleet.js'
import {runInProcess} from './inprocess.js'

const SUBNET = 15
const TRAP_BASE = 100

let L: Lab
let root: string
let releases: string
const traps: net.Server[] = []
const trapCounts = new Map<string, number>()

/** "127.77.<subnet>" of the lab (GWFLEET_LAB_OFFSET shifts the subnet): traps live beside its hosts. */
function labNet(): string {
  return L.hosts[0]!.address.split('.').slice(0, 3).join('.')
}

/** A TCP listener that counts connections (and closes them): any count > 0 means an SSH attempt. */
function trap(address: string): Promise<void> {
  trapCounts.set(address, 0)
  const server = net.createServer((s) => {
    trapCounts.set(address, (trapCounts.get(address) ?? 0) + 1)
    s.destroy()
  })
  traps.push(server)
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(22, address, () => resolve())
  })
}

/** The environment the test process started with (in-process runs swap process.env while they run). */
const BASE_ENV: NodeJS.ProcessEnv = {...process.env}

/** Environment of the CLI: private HOME, the secrets the values reference, no agent. */
function env(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {...BASE_ENV, HOME: home, GWFLEET_HOME: path.join(home, '.gwfleet'), GWFLEET_PLAIN: '1', ...SECRETS}
  delete e.SSH_AUTH_SOCK
  delete e.GWFLEET_INVENTORY
  delete e.GWFLEET_BECOME_PASSWORD
  // As an operator runs it: vitest's NODE_ENV=test would put oclif in its development mode.
  delete e.NODE_ENV
  return {...e, ...extra}
}

/** 1-based number of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle))
  if (i < 0) throw new Error(`test bug: ${JSON.stringify(needle)} not in the text`)
  return i + 1
}

// ------------------------------------------------------------------------------ case fixtures

/** What a case expects the error to name. */
interface Where {
  file?: string
  /** The line (or the lines that are fair to name, e.g. where a YAML parser notices an unclosed bracket). */
  line?: number | number[]
  key?: string
  flag?: string
  /** More the message must say. */
  says?: RegExp
}

/** A case's working folder: a valid inventory, values and secret file, ready to be broken. */
class Fixture {
  readonly dir: string
  readonly home: string
  readonly host: string
  inv: string
  values: string
  constructor(readonly index: number) {
    this.dir = fs.mkdtempSync(path.join(root, `case-${index}-`))
    this.home = path.join(this.dir, 'home')
    fs.mkdirSync(path.join(this.home, '.ssh'), {recursive: true, mode: 0o700})
    fs.mkdirSync(path.join(this.dir, 'values'))
    fs.writeFileSync(path.join(this.dir, 'client-secret.txt'), `${SECRETS.fileSecret}\n`, {mode: 0o600})
    fs.copyFileSync(L.knownHostsFile, path.join(this.dir, 'known_hosts'))
    this.host = `${labNet()}.${TRAP_BASE + index}`
    this.inv = path.join(this.dir, 'fleet.yaml')
    this.values = path.join(this.dir, 'values', 'g1.yaml')
    this.write('fleet.yaml', this.inventoryText())
    this.write('values/g1.yaml', Workspace.valuesText('g1') + '\n')
  }

  inventoryText(): string {
    return [
      'release:',
      `  dir: ${releases}`,
      '  version: 1.5.0',
      'defaults:',
      '  user: root',
      `  identityFile: ${L.clientKey}`,
      '  knownHosts: known_hosts',
      'gateways:',
      '  g1:',
      `    host: ${this.host}`,
      '    values: values/g1.yaml',
      '    labels: {ring: canary}',
      '',
    ].join('\n')
  }

  write(rel: string, text: string): string {
    const p = path.join(this.dir, rel)
    fs.mkdirSync(path.dirname(p), {recursive: true})
    fs.writeFileSync(p, text)
    return p
  }

  read(rel: string): string {
    return fs.readFileSync(path.join(this.dir, rel), 'utf8')
  }

  /** Replace text in a file (must match) and return the new text. */
  edit(rel: string, from: string | RegExp, to: string): string {
    const old = this.read(rel)
    const text = old.replace(from, to)
    if (text === old) throw new Error(`test bug: ${String(from)} not in ${rel}`)
    this.write(rel, text)
    return text
  }

  /** Where a line of the inventory is (after edits). */
  invLine(needle: string): number {
    return lineOf(this.read('fleet.yaml'), needle)
  }

  valuesLine(needle: string): number {
    return lineOf(this.read('values/g1.yaml'), needle)
  }
}

interface Case {
  name: string
  /** Prepare the fixture; return the command line (without --json) and what the error must name. */
  setup(f: Fixture): Promise<{args: string[]; where: Where; env?: Record<string, string>}> | {args: string[]; where: Where; env?: Record<string, string>}
}

const deploy = (f: Fixture, ...more: string[]) => ['deploy', '-i', f.inv, ...more]

/** Nine levels of nine aliases each ("billion laughs"): 10^9 nodes once expanded, a few hundred bytes written. */
function laughs(prefix: string, indent = ''): string {
  const out = [`${indent}${prefix}1: &${prefix}1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]`]
  for (let i = 2; i <= 9; i++) out.push(`${indent}${prefix}${i}: &${prefix}${i} [${Array(9).fill(`*${prefix}${i - 1}`).join(', ')}]`)
  return out.join('\n') + '\n'
}

/** A file that stat says is `size` bytes long, without using the disk (sparse). */
function sparse(p: string, size: number): void {
  fs.rmSync(p, {force: true})
  const fd = fs.openSync(p, 'w')
  fs.ftruncateSync(fd, size)
  fs.closeSync(fd)
}

/** Put a symbolic link to `target` where `p` was. */
function linkTo(p: string, target: string): void {
  fs.rmSync(p, {force: true})
  fs.symlinkSync(target, p)
}

const CASES: Case[] = [
  // ---------------------------------------------------------------- inventory
  {
    name: 'inventory: YAML syntax error',
    setup: (f) => {
      f.edit('fleet.yaml', '    labels: {ring: canary}', '    labels: {ring: canary\n    port: 22')
      // The bracket opens on the labels line; the parser notices on the next one: either is fair.
      return {args: deploy(f), where: {file: f.inv, line: [f.invLine('labels:'), f.invLine('labels:') + 1], says: /YAML|syntax/i}}
    },
  },
  {
    name: 'inventory: YAML syntax error (bad indentation)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '   values: values/g1.yaml')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('   values:'), says: /YAML|syntax|indent/i}}
    },
  },
  {
    name: 'inventory: unknown top-level key',
    setup: (f) => {
      f.edit('fleet.yaml', 'defaults:', 'rollouts:\n  canary: 1\ndefaults:')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('rollouts:'), key: 'rollouts', says: /unknown key/}}
    },
  },
  {
    name: 'inventory: misspelt gateway key (hots)',
    setup: (f) => {
      f.edit('fleet.yaml', '    host:', '    hots:')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('hots:'), key: 'gateways.g1.hots', says: /did you mean "host"/}}
    },
  },
  {
    name: 'inventory: misspelt defaults key (identityfile)',
    setup: (f) => {
      f.edit('fleet.yaml', '  identityFile:', '  identityfile:')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('identityfile:'), key: 'defaults.identityfile', says: /identityFile/}}
    },
  },
  {
    name: 'inventory: misspelt release key (verison)',
    setup: (f) => {
      f.edit('fleet.yaml', '  version: 1.5.0', '  verison: 1.5.0')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('verison:'), key: 'release.verison'}}
    },
  },
  {
    name: 'inventory: wrong type (port: twenty-two)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    port: twenty-two')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('port:'), key: 'gateways.g1.port', says: /number|integer/}}
    },
  },
  {
    name: 'inventory: wrong type (become: "yes")',
    setup: (f) => {
      f.edit('fleet.yaml', '  user: root', '  user: root\n  become: "yes"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('become:'), key: 'defaults.become', says: /true or false|boolean/}}
    },
  },
  {
    name: 'inventory: wrong type (labels as a list)',
    setup: (f) => {
      f.edit('fleet.yaml', '    labels: {ring: canary}', '    labels: [canary, eu]')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('labels:'), key: 'gateways.g1.labels'}}
    },
  },
  {
    name: 'inventory: duplicate gateway names',
    setup: (f) => {
      const text = f.read('fleet.yaml')
      f.write('fleet.yaml', text + `  g1:\n    host: ${f.host}\n    values: values/g1.yaml\n`)
      const second = text.split('\n').length
      return {args: deploy(f), where: {file: f.inv, line: second, key: 'gateways.g1', says: /duplicate gateway name/}}
    },
  },
  {
    name: 'inventory: missing values file',
    setup: (f) => {
      f.edit('fleet.yaml', 'values/g1.yaml', 'values/nope.yaml')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('values:'), key: 'gateways.g1.values', says: /not found/}}
    },
  },
  {
    name: 'inventory: missing identity file',
    setup: (f) => {
      f.edit('fleet.yaml', `  identityFile: ${L.clientKey}`, '  identityFile: ./keys/nope')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('identityFile:'), key: 'defaults.identityFile', says: /not found/}}
    },
  },
  {
    name: 'inventory: missing inventory file',
    setup: (f) => ({args: ['deploy', '-i', path.join(f.dir, 'no-such-fleet.yaml')], where: {file: path.join(f.dir, 'no-such-fleet.yaml'), says: /not found/}}),
  },
  {
    name: 'inventory: no gateways',
    setup: (f) => {
      const text = f.read('fleet.yaml').split('\n').slice(0, 8).join('\n') + '\n'
      f.write('fleet.yaml', text)
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('gateways:'), key: 'gateways'}}
    },
  },
  {
    name: 'inventory: malformed release.version (1.5)',
    setup: (f) => {
      f.edit('fleet.yaml', '  version: 1.5.0', '  version: "1.5"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('version:'), key: 'release.version', says: /X\.Y\.Z/}}
    },
  },
  {
    name: 'inventory: malformed pinned version (v1.5.0-rc1)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    version: v1.5.0-rc1')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('version: v1'), key: 'gateways.g1.version', says: /X\.Y\.Z/}}
    },
  },
  {
    name: 'inventory: malformed jump host (port 99999)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    jump: ops@bastion.example:99999')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('jump:'), key: 'gateways.g1.jump', says: /port/}}
    },
  },
  {
    name: 'inventory: malformed jump chain (empty hop)',
    setup: (f) => {
      f.edit('fleet.yaml', '  knownHosts: known_hosts', '  knownHosts: known_hosts\n  jump: "ops@b1.example,,b2.example"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('jump:'), key: 'defaults.jump', says: /empty/}}
    },
  },
  {
    name: 'inventory: relative remoteDir',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    remoteDir: opt/gwfleet')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('remoteDir:'), key: 'gateways.g1.remoteDir', says: /absolute/}}
    },
  },
  {
    name: 'inventory: gateway without host',
    setup: (f) => {
      f.edit('fleet.yaml', /    host: .*\n/, '')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('  g1:'), key: 'gateways.g1.host', says: /missing/}}
    },
  },
  {
    name: 'inventory: host as a default',
    setup: (f) => {
      f.edit('fleet.yaml', '  user: root', '  user: root\n  host: 127.0.0.1')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('  host: 127.0.0.1'), key: 'defaults.host'}}
    },
  },
  {
    name: 'inventory: gateway name holding shell text',
    setup: (f) => {
      f.edit('fleet.yaml', '  g1:', '  "g1$(touch /tmp/gwfleet-pwned-bi-name)":')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('g1$('), key: 'gateways', says: /gateway name/}}
    },
  },
  {
    name: 'inventory: host holding shell text with spaces',
    setup: (f) => {
      f.edit('fleet.yaml', `    host: ${f.host}`, '    host: "gw.example; touch /tmp/gwfleet-pwned-bi-host"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('host: "gw'), key: 'gateways.g1.host'}}
    },
  },
  {
    name: 'inventory: billion-laughs aliases',
    setup: (f) => {
      f.write('fleet.yaml', f.read('fleet.yaml') + laughs('lol'))
      // Aliases add 9x10, 9x91, 9x820, 9x7381 nodes (74,718), then the first *lol5 of lol6 passes 100,000.
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('lol6:'), key: 'lol6[0]', says: /aliases expand to more than 100000 nodes/}}
    },
  },
  {
    name: 'inventory: remoteDir with a backslash (the hash probe could never read it back)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    remoteDir: /opt/gw\\fleet')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('remoteDir:'), key: 'gateways.g1.remoteDir', says: /backslash/}}
    },
  },
  {
    name: 'inventory: remoteDir with a newline',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    remoteDir: "/opt/gw\\nfleet"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('remoteDir:'), key: 'gateways.g1.remoteDir', says: /newlines/}}
    },
  },
  {
    name: 'inventory: jump host the connection cannot parse (bast$ion)',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    jump: "ops@bast$ion"')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('jump:'), key: 'gateways.g1.jump', says: /bad host "bast\$ion"/}}
    },
  },
  {
    name: 'inventory: two gateways on the same host and port',
    setup: (f) => {
      f.write('fleet.yaml', f.read('fleet.yaml') + `  g2:\n    host: ${f.host.toUpperCase()}\n    port: 22\n    values: values/g1.yaml\n`)
      const [one, two] = [f.invLine('  g1:'), f.invLine('  g2:')]
      return {
        args: deploy(f),
        where: {file: f.inv, line: two + 1, key: 'gateways.g2.host', says: new RegExp(`"g1" \\(line ${one}\\) and "g2" \\(line ${two}\\) both reach`)},
      }
    },
  },
  {
    name: 'inventory: values file is a symbolic link to /etc/shadow',
    setup: (f) => {
      linkTo(f.values, '/etc/shadow')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('values:'), key: 'gateways.g1.values', says: /symbolic link .*to \/etc\/shadow/}}
    },
  },
  {
    name: 'inventory: values file is a FIFO',
    setup: (f) => {
      fs.rmSync(f.values)
      execFileSync('mkfifo', [f.values])
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('values:'), key: 'gateways.g1.values', says: /is a FIFO, not a regular file/}}
    },
  },
  {
    name: 'inventory: a 214 MB values file',
    setup: (f) => {
      sparse(f.values, 214 * 1024 * 1024)
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('values:'), key: 'gateways.g1.values', says: /214 MiB, over the 4 MiB limit/}}
    },
  },
  // ---------------------------------------------------------------- values files
  {
    name: 'values: billion-laughs aliases',
    setup: (f) => {
      f.write('values/g1.yaml', f.read('values/g1.yaml') + 'extra:\n' + laughs('lol', '  '))
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('lol6:'), key: 'extra.lol6[0]', says: /aliases expand/}}
    },
  },
  {
    name: 'values: ${file:} on a FIFO (nobody writes: reading would hang)',
    setup: (f) => {
      execFileSync('mkfifo', [path.join(f.dir, 'pipe')])
      f.edit('values/g1.yaml', '${file:../client-secret.txt}', '${file:../pipe}')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('helmRepoUsername:'), key: 'helmRepoUsername', says: /FIFO, not a regular file/}}
    },
  },
  {
    name: 'values: ${file:/dev/zero} (endless)',
    setup: (f) => {
      f.edit('values/g1.yaml', '${file:../client-secret.txt}', '${file:/dev/zero}')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('helmRepoUsername:'), key: 'helmRepoUsername', says: /character device, not a regular file/}}
    },
  },
  {
    name: 'values: ${file:} secret over 1 MiB',
    setup: (f) => {
      sparse(path.join(f.dir, 'client-secret.txt'), 2 * 1024 * 1024)
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('helmRepoUsername:'), key: 'helmRepoUsername', says: /2 MiB, over the 1 MiB limit/}}
    },
  },
  {
    name: 'values: ${file:} secret is a symbolic link to /etc/shadow',
    setup: (f) => {
      linkTo(path.join(f.dir, 'client-secret.txt'), '/etc/shadow')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('helmRepoUsername:'), key: 'helmRepoUsername', says: /symbolic link .*to \/etc\/shadow/}}
    },
  },
  {
    name: 'values: YAML syntax error',
    setup: (f) => {
      // The unclosed quote opens on line 3: naming the end of the file (line 14) leaves the operator searching.
      f.edit('values/g1.yaml', '  domain: auth.example.net', '  domain: "auth.example.net')
      return {args: deploy(f), where: {file: f.values, line: [f.valuesLine('domain:'), f.valuesLine('domain:') + 1], says: /YAML|syntax/i}}
    },
  },
  {
    name: 'values: vendor placeholder REDACTED',
    setup: (f) => {
      f.edit('values/g1.yaml', '    clientSecret: ${env:GW_CLIENT_SECRET}', '    clientSecret: "REDACTED"')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('clientSecret:'), key: 'auth.orchestrator.clientSecret', says: /placeholder/}}
    },
  },
  {
    name: 'values: vendor placeholder APHERIS_PROVIDED_TENANT_ID',
    setup: (f) => {
      f.edit('values/g1.yaml', 'tenant: tenant-g1', 'tenant: APHERIS_PROVIDED_TENANT_ID')
      return {args: deploy(f), where: {file: f.values, line: 1, key: 'tenant', says: /placeholder/}}
    },
  },
  {
    name: 'values: unresolvable ${env:}',
    setup: (f) => {
      f.edit('values/g1.yaml', '${env:GW_CLIENT_SECRET}', '${env:GWFLEET_E2E_NOT_SET}')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('clientSecret:'), key: 'auth.orchestrator.clientSecret', says: /GWFLEET_E2E_NOT_SET/}}
    },
  },
  {
    name: 'values: unresolvable ${file:}',
    setup: (f) => {
      f.edit('values/g1.yaml', '${file:../client-secret.txt}', '${file:../no-such-secret.txt}')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('helmRepoUsername:'), key: 'helmRepoUsername', says: /not found/}}
    },
  },
  {
    name: 'values: relative datasets folder',
    setup: (f) => {
      f.edit('values/g1.yaml', '      folder: /srv/datasets', '      folder: srv/datasets')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('folder:'), key: 'dal.sources.files.folder', says: /absolute/}}
    },
  },
  {
    name: 'values: wrong type (gpu.enabled: "yes")',
    setup: (f) => {
      f.write('values/g1.yaml', f.read('values/g1.yaml') + 'gpu:\n  enabled: "yes"\n')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('enabled:'), key: 'gpu.enabled', says: /true or false|boolean/}}
    },
  },
  {
    name: 'values: wrong type (dal.sources.s3 not a list)',
    setup: (f) => {
      f.edit('values/g1.yaml', '      folder: /srv/datasets', '      folder: /srv/datasets\n    s3: s3://bucket-a')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('s3:'), key: 'dal.sources.s3', says: /list/}}
    },
  },
  {
    name: 'values: duplicate key',
    setup: (f) => {
      f.write('values/g1.yaml', f.read('values/g1.yaml') + 'tenant: tenant-again\n')
      return {args: deploy(f), where: {file: f.values, line: f.valuesLine('tenant-again'), key: 'tenant', says: /duplicate/}}
    },
  },
  {
    name: 'values: missing values file named by a default',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml\n', '')
      f.edit('fleet.yaml', '  user: root', '  user: root\n  values: values/default.yaml')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('values:'), key: 'defaults.values', says: /not found/}}
    },
  },
  // ---------------------------------------------------------------- release folder
  {
    name: 'release: corrupt zip',
    setup: async (f) => {
      const dir = path.join(f.dir, 'rel')
      const zip = await L.makeRelease(dir, '1.5.0', {corrupt: true})
      f.edit('fleet.yaml', `  dir: ${releases}`, '  dir: rel')
      return {args: deploy(f), where: {file: zip, says: /zip/}}
    },
  },
  {
    name: 'release: zip without deploy_gateway',
    setup: async (f) => {
      const dir = path.join(f.dir, 'rel')
      const zip = await L.makeRelease(dir, '1.5.0', {withoutInstaller: true})
      f.edit('fleet.yaml', `  dir: ${releases}`, '  dir: rel')
      return {args: deploy(f), where: {file: zip, says: /deploy_gateway/}}
    },
  },
  {
    name: 'release: the version is not in the release folder',
    setup: (f) => {
      f.edit('fleet.yaml', '  version: 1.5.0', '  version: 1.6.0')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('version: 1.6.0'), key: 'release.version', says: /1\.6\.0.*not found|not found.*1\.6\.0/}}
    },
  },
  {
    name: 'release: a pinned version is not in the release folder',
    setup: (f) => {
      f.edit('fleet.yaml', '    values: values/g1.yaml', '    values: values/g1.yaml\n    version: 1.3.0')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('version: 1.3.0'), key: 'gateways.g1.version', says: /1\.3\.0/}}
    },
  },
  {
    name: 'release: the release folder does not exist',
    setup: (f) => {
      f.edit('fleet.yaml', `  dir: ${releases}`, '  dir: ./no-releases-here')
      return {args: deploy(f), where: {file: f.inv, line: f.invLine('dir:'), key: 'release.dir', says: /no-releases-here/}}
    },
  },
  {
    name: 'release: upgrade --to a version not in the folder',
    setup: (f) => ({args: ['upgrade', '-i', f.inv, '--to', '1.6.0'], where: {flag: '--to', says: /1\.6\.0/}}),
  },
  // ---------------------------------------------------------------- flags
  {name: 'flags: --batch-size 0', setup: (f) => ({args: deploy(f, '--batch-size', '0'), where: {flag: '--batch-size'}})},
  {name: 'flags: --batch-size 1,,25%', setup: (f) => ({args: deploy(f, '--batch-size', '1,,25%'), where: {flag: '--batch-size'}})},
  {name: 'flags: --batch-size 150%', setup: (f) => ({args: ['upgrade', '-i', f.inv, '--to', '1.5.0', '--batch-size', '150%'], where: {flag: '--batch-size'}})},
  {name: 'flags: --concurrency 0', setup: (f) => ({args: deploy(f, '--concurrency', '0'), where: {flag: '--concurrency'}})},
  {name: 'flags: --concurrency many', setup: (f) => ({args: ['audit', '-i', f.inv, '-c', 'many'], where: {flag: '--concurrency'}})},
  {name: 'flags: --timeout 5x', setup: (f) => ({args: deploy(f, '--timeout', '5x'), where: {flag: '--timeout'}})},
  {name: 'flags: --timeout 0s', setup: (f) => ({args: ['uninstall', '-i', f.inv, '--yes', '--timeout', '0s'], where: {flag: '--timeout'}})},
  {name: 'flags: --connect-timeout soon', setup: (f) => ({args: ['audit', '-i', f.inv, '--connect-timeout', 'soon'], where: {flag: '--connect-timeout'}})},
  {name: 'flags: upgrade --to 1.5', setup: (f) => ({args: ['upgrade', '-i', f.inv, '--to', '1.5'], where: {flag: '--to'}})},
  {name: 'flags: upgrade without --to', setup: (f) => ({args: ['upgrade', '-i', f.inv], where: {flag: '--to'}})},
  {name: 'flags: --max-fail lots', setup: (f) => ({args: ['upgrade', '-i', f.inv, '--to', '1.5.0', '--max-fail', 'lots'], where: {flag: '--max-fail'}})},
  {name: 'flags: --limit names no gateway', setup: (f) => ({args: deploy(f, '-l', 'g2'), where: {flag: '--limit', says: /g2/}})},
  {name: 'flags: --limit malformed label term', setup: (f) => ({args: deploy(f, '-l', 'ring='), where: {flag: '--limit'}})},
  {name: 'flags: --limit empty exclusion', setup: (f) => ({args: ['audit', '-i', f.inv, '-l', '!'], where: {flag: '--limit'}})},
  {name: 'flags: --limit selects nothing', setup: (f) => ({args: deploy(f, '-l', 'ring=prod'), where: {flag: '--limit'}})},
  {
    name: 'flags: --limit holding shell text',
    setup: (f) => ({args: deploy(f, '-l', 'g1$(touch /tmp/gwfleet-pwned-bi-limit)'), where: {flag: '--limit'}}),
  },
  {name: 'flags: unknown flag', setup: (f) => ({args: deploy(f, '--frobnicate'), where: {flag: '--frobnicate'}})},
  {name: 'flags: no inventory', setup: () => ({args: ['deploy'], where: {flag: '--inventory'}})},
  {name: 'flags: audit --output xml', setup: (f) => ({args: ['audit', '-i', f.inv, '--output', 'xml'], where: {flag: '--output'}})},
  {name: 'flags: uninstall without --yes and no terminal', setup: (f) => ({args: ['uninstall', '-i', f.inv], where: {flag: '--yes'}})},
  {
    name: 'flags: inventory from GWFLEET_INVENTORY that does not exist',
    setup: (f) => ({args: ['audit'], env: {GWFLEET_INVENTORY: path.join(f.dir, 'gone.yaml')}, where: {file: path.join(f.dir, 'gone.yaml')}}),
  },
]

/**
 * Cases that run as their own process too ("also": the entry point bin/run.js, its exit status and
 * streams, one of each kind of error) or only ("only": a stdin that is not a terminal, and files
 * whose reading would block: a regression there must hang a child with a timeout, not this process).
 */
const SPAWNED: Record<string, 'only' | 'also'> = {
  'inventory: misspelt gateway key (hots)': 'also',
  'values: wrong type (gpu.enabled: "yes")': 'also',
  'release: corrupt zip': 'also',
  'flags: unknown flag': 'also',
  'flags: --batch-size 0': 'also',
  'flags: inventory from GWFLEET_INVENTORY that does not exist': 'also',
  'inventory: values file is a FIFO': 'only',
  'values: ${file:} on a FIFO (nobody writes: reading would hang)': 'only',
  'values: ${file:/dev/zero} (endless)': 'only',
  'flags: uninstall without --yes and no terminal': 'only',
}

/** Every way a case runs: [label, case, index, how]. */
const RUNS = CASES.flatMap((c, i) => {
  const how = SPAWNED[c.name]
  const runs: [string, Case, number, 'in-process' | 'spawned'][] = []
  if (how !== 'only') runs.push([`${c.name} (in-process)`, c, i, 'in-process'])
  if (how) runs.push([`${c.name} (spawned)`, c, i, 'spawned'])
  return runs
})

// ------------------------------------------------------------------------------ the suite

beforeAll(async () => {
  L = await lab(1, SUBNET, 'badinput')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-e2e-badinput-'))
  releases = path.join(root, 'releases')
  await L.makeRelease(releases, '1.4.0')
  await L.makeRelease(releases, '1.5.0')
  // One trap per case and way of running it (a spawned run of case i uses CASES.length + i).
  await Promise.all([...CASES, ...CASES].map((_, i) => trap(`${labNet()}.${TRAP_BASE + i}`)))
  for (const f of fs.readdirSync('/tmp')) if (f.startsWith('gwfleet-pwned-bi')) fs.rmSync(path.join('/tmp', f), {force: true})
})

afterAll(async () => {
  await Promise.all(traps.map((s) => new Promise((r) => s.close(r))))
  await L?.stop()
  if (root) fs.rmSync(root, {recursive: true, force: true})
  spaces.cleanup()
})

const spaces = new Workspaces(() => L)
const workspace = (tag: string): Workspace => spaces.make(tag)

function checkMessage(expect: ExpectStatic, msg: string, w: Where, what: string) {
  const label = (check: string) => `${what} ${check} in: ${msg.trim()}`
  if (w.flag) expect.soft(msg, label('names the flag')).toContain(w.flag)
  if (w.file) expect.soft(msg, label('names the file')).toContain(w.file)
  if (w.file && w.line) {
    const lines = ([] as number[]).concat(w.line)
    const esc = w.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    expect.soft(msg, label(`names line ${lines.join(' or ')}`)).toMatch(new RegExp(`${esc}:(${lines.join('|')})\\b`))
  }
  if (w.key) expect.soft(msg, label(`names key ${w.key}`)).toContain(w.key)
  if (w.says) expect.soft(msg, label(`says ${w.says}`)).toMatch(w.says)
  // The secrets the values reference are never part of an error.
  for (const s of Object.values(SECRETS)) expect.soft(msg, label('leaks no secret')).not.toContain(s)
}

describe('bad input: exit 2, file/line/key or flag named, no SSH connection', () => {
  it('has at least 30 cases, a handful of them spawned', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30)
    const names = new Set(CASES.map((c) => c.name))
    expect(Object.keys(SPAWNED).filter((n) => !names.has(n)), 'SPAWNED names a case that does not exist').toEqual([])
  })

  // Concurrent: each case asserts through its own test context's expect. The in-process runs queue
  // up one at a time (runInProcess); the spawned ones overlap them.
  it.concurrent.for(RUNS)('%s', async ([, c, i, how], {expect}) => {
    const f = new Fixture(how === 'spawned' ? CASES.length + i : i)
    const {args, where, env: extra} = await c.setup(f)
    const e = env(f.home, extra)
    const run = (a: string[]): Promise<CliResult> => (how === 'spawned' ? runCli(a, e, {timeoutMs: 60_000}) : runInProcess(a, e))
    const asJson = await run([...args, '--json'])
    const plain = await run(args)

    // --json: exactly one document {"ok": false, "error": "..."} on stdout.
    expect.soft(asJson.code, `--json exit code; stdout ${asJson.stdout} stderr ${asJson.stderr}`).toBe(2)
    expect.soft(asJson.json, `--json stdout is one JSON document: ${asJson.stdout}`).toMatchObject({ok: false, error: expect.any(String)})
    if (asJson.json?.error) checkMessage(expect, asJson.json.error, where, '--json')

    // Plain: the same words on stderr, nothing on stdout.
    expect.soft(plain.code, `exit code; stderr ${plain.stderr}`).toBe(2)
    expect.soft(plain.stdout).toBe('')
    checkMessage(expect, plain.stderr, where, 'stderr')

    // No SSH connection was opened (the trap on this case's host address saw nothing), no run folder.
    expect.soft(trapCounts.get(f.host), 'connections to the host').toBe(0)
    expect.soft(fs.existsSync(path.join(f.home, '.gwfleet', 'runs')) ? fs.readdirSync(path.join(f.home, '.gwfleet', 'runs')) : [], 'run folders').toEqual([])
  })

  it('shell text in a refused name, host or selector never ran on the workstation', async () => {
    // (after the concurrent cases above have all ended)
    expect(fs.readdirSync('/tmp').filter((n) => n.startsWith('gwfleet-pwned-bi'))).toEqual([])
  })
})

// ------------------------------------------------------------------------------ shell text is data

describe('shell text in paths, names and users is data', () => {
  const pwned = (n: string) => `/tmp/gwfleet-pwned-bi-${n}`

  async function noPwned(marks: string[]): Promise<string[]> {
    const found: string[] = []
    for (const m of marks) {
      if (fs.existsSync(m)) found.push(`workstation:${m}`)
      if (await L.hosts[0]!.exists(m)) found.push(`${L.hosts[0]!.name}:${m}`)
    }
    return found
  }

  it('a values path and a remoteDir full of $(...), quotes and ; deploy, used literally', async () => {
    const ws = workspace('badinput-shell')
    await ws.releasesOf('1.5.0')
    const h = L.hosts[0]!
    const valuesA = `va$(touch ${pwned('a')})l.yaml`
    const valuesB = `q'u"o;te $(touch ${pwned('b')}) \`touch ${pwned('c')}\`.yaml`
    const remoteC = `/opt/gw dir $(touch ${pwned('d')});'q"`
    // The slashes inside $(touch /tmp/...) make these nested folders: the path is data all the way.
    for (const [file, name] of [[valuesA, 'st-a'], [valuesB, 'st-b'], ['st-c.yaml', 'st-c']]) {
      fs.mkdirSync(path.dirname(path.join(ws.dir, 'values', file)), {recursive: true})
      const text = Workspace.valuesText(name).replace('${file:../client-secret.txt}', `\${file:${path.join(ws.dir, 'client-secret.txt')}}`)
      fs.writeFileSync(path.join(ws.dir, 'values', file), text)
    }
    fs.copyFileSync(L.knownHostsFile, path.join(ws.dir, 'known_hosts'))
    const inv = path.join(ws.dir, 'fleet.yaml')
    fs.writeFileSync(
      inv,
      [
        'release:',
        '  dir: releases',
        '  version: 1.5.0',
        'defaults:',
        '  user: root',
        `  identityFile: ${L.clientKey}`,
        `  knownHosts: ${path.join(ws.dir, 'known_hosts')}`,
        'gateways:',
        '  st-a:',
        `    host: ${h.address}`,
        `    values: ${JSON.stringify(`values/${valuesA}`)}`,
        '  st-b:',
        `    host: ${h.address}`,
        `    values: ${JSON.stringify(`values/${valuesB}`)}`,
        '    remoteDir: /opt/gwfleet-b',
        '  st-c:',
        `    host: ${h.address}`,
        '    values: values/st-c.yaml',
        `    remoteDir: ${JSON.stringify(remoteC)}`,
        '',
      ].join('\n'),
    )
    const res = await ws.run(['deploy', '-i', inv, '--json'])
    expect.soft(res.code, res.stdout + res.stderr).toBe(0)
    expect.soft((res.json?.hosts ?? []).map((x: any) => [x.name, x.status, x.error])).toEqual([
      ['st-a', 'ok', null],
      ['st-b', 'ok', null],
      ['st-c', 'ok', null],
    ])
    // Every path exists literally on the host and holds its gateway's values.
    expect.soft(await h.exists('/opt/gwfleet/values/st-a.yaml')).toBe(true)
    expect.soft(await h.exists('/opt/gwfleet-b/values/st-b.yaml')).toBe(true)
    expect.soft(await h.exists(`${remoteC}/values/st-c.yaml`), 'the odd remoteDir used literally').toBe(true)
    expect.soft(await noPwned(['a', 'b', 'c', 'd'].map(pwned))).toEqual([])
    // And an audit of the same inventory reads them back in sync.
    const audit = await ws.run(['audit', '-i', inv, '--json'])
    expect.soft((audit.json?.hosts ?? []).map((x: any) => `${x.name}: ${x.status}`)).toEqual(['st-a: in-sync', 'st-b: in-sync', 'st-c: in-sync'])
    expect.soft(await noPwned(['a', 'b', 'c', 'd'].map(pwned))).toEqual([])
  })

  it('a remoteDir with $(...) that cannot be created fails cleanly and runs nothing', async () => {
    const ws = workspace('badinput-shell2')
    await ws.releasesOf('1.5.0')
    const h = L.hosts[0]!
    // /etc/hostname is a file: the remoteDir check refuses it before anything is made, the error path runs.
    const inv = ws.inventory('1.5.0', [{host: h, name: 'st-c', opts: {extra: `    remoteDir: ${JSON.stringify(`/etc/hostname/x$(touch ${pwned('e')})`)}`}}])
    const res = await ws.run(['deploy', '-i', inv, '--json'])
    expect.soft(res.code, res.stdout + res.stderr).toBe(1)
    const st = res.json?.hosts?.[0]
    expect.soft(st?.status).toBe('failed')
    expect.soft(st?.error ?? '').toMatch(/\/etc\/hostname is not a directory/)
    expect.soft(await noPwned([pwned('e')]), 'shell text in remoteDir was executed on the host').toEqual([])
  })

  it('host names and users holding shell text are refused or used literally, never run', async () => {
    const ws = workspace('badinput-shell3')
    await ws.releasesOf('1.5.0')
    const h = L.hosts[0]!
    fs.copyFileSync(L.knownHostsFile, path.join(ws.dir, 'known_hosts'))
    for (const n of ['h1', 'h2', 'h3']) ws.writeValues(n)
    const inv = path.join(ws.dir, 'fleet.yaml')
    fs.writeFileSync(
      inv,
      [
        'release:',
        '  dir: releases',
        '  version: 1.5.0',
        'defaults:',
        `  identityFile: ${L.clientKey}`,
        `  knownHosts: ${path.join(ws.dir, 'known_hosts')}`,
        'gateways:',
        '  h1:',
        `    host: ${JSON.stringify(`gw.invalid;touch\${IFS}${pwned('f')}`)}`,
        '    values: values/h1.yaml',
        '  h2:',
        `    host: ${JSON.stringify(`\`touch\${IFS}${pwned('g')}\`.invalid`)}`,
        '    values: values/h2.yaml',
        '  h3:',
        `    host: ${h.address}`,
        `    user: ${JSON.stringify(`r$(touch\${IFS}${pwned('h')})'`)}`,
        '    values: values/h3.yaml',
        '',
      ].join('\n'),
    )
    const res = await ws.run(['deploy', '-i', inv, '--json', '--connect-timeout', '5s'])
    // Either refused as bad input (exit 2) or tried literally: unreachable (exit 1).
    expect.soft([1, 2], res.stdout + res.stderr).toContain(res.code)
    if (res.code === 1) {
      for (const x of res.json?.hosts ?? []) expect.soft(x.status, `${x.name}: ${x.error}`).toBe('unreachable')
    } else {
      expect.soft(res.json).toMatchObject({ok: false, error: expect.any(String)})
    }
    expect.soft(await noPwned(['f', 'g', 'h'].map(pwned))).toEqual([])
  })
})

