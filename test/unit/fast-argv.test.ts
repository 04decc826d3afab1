import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Parser} from '@oclif/core'
import ts from 'typescript'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import Audit from '../../commands/audit.js'
import Deploy from '../../commands/deploy.js'
import History from '../../commands/history.js'
import LocksClear from '../../commands/locks/clear.js'
import LocksList from '../../commands/locks/list.js'
import Logs from '../../commands/logs.js'
import Preflight from '../../commands/preflight.js'
import Status from '../../commands/status.js'
import Uninstall from '../../commands/uninstall.js'
import Upgrade from '../../commands/upgrade.js'
import {COMMANDS} from '../../src/cli/dispatch.js'
import {environmentAllows, parseCommandLine, type Manifest} from '../../src/cli/fast.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
const pjson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

const CLASSES: Record<string, any> = {
  audit: Audit,
  deploy: Deploy,
  history: History,
  'locks:clear': LocksClear,
  'locks:list': LocksList,
  logs: Logs,
  preflight: Preflight,
  status: Status,
  uninstall: Uninstall,
  upgrade: Upgrade,
}

const ENV_KEYS = ['GWFLEET_INVENTORY']
let savedEnv: Record<string, string | undefined> = {}
let savedTTY: PropertyDescriptor | undefined

beforeAll(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]))
  for (const k of ENV_KEYS) delete process.env[k]
  // oclif reads a missing arg from stdin unless stdin is a terminal: make it one for the comparisons.
  savedTTY = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY')
  Object.defineProperty(process.stdin, 'isTTY', {value: true, configurable: true})
})

afterAll(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k]
    else process.env[k] = savedEnv[k]
  }
  if (savedTTY) Object.defineProperty(process.stdin, 'isTTY', savedTTY)
  else delete (process.stdin as any).isTTY
})

/** oclif's own parse of the command's argv (after the command id), or the error it throws. */
async function oclifParse(id: string, argv: string[]): Promise<{flags: any; args: any} | Error> {
  const C = CLASSES[id]
  try {
    const r = await Parser.parse(argv, {flags: C.flags, args: C.args ?? {}, strict: C.strict, context: undefined} as any)
    return {flags: r.flags, args: r.args}
  } catch (e) {
    return e as Error
  }
}

function withEnv<T>(env: Record<string, string>, f: () => Promise<T>): Promise<T> {
  for (const [k, v] of Object.entries(env)) process.env[k] = v
  return f().finally(() => {
    for (const k of Object.keys(env)) delete process.env[k]
  })
}

const words = (id: string) => id.split(':')

/** Command lines every command must take the fast path for, built from its flags and args. */
function ordinaryLines(id: string): string[][] {
  const cmd = manifest.commands[id]
  const flags = Object.values(cmd.flags)
  const args = Object.values(cmd.args ?? {})
  const pos = args.length ? ['berlin-1'] : []
  // required flags go on every line, except where the line is about that flag
  const requiredBut = (name?: string) => flags.filter((f) => f.required && f.name !== name).flatMap((f) => [`--${f.name}`, '1.6.0'])
  const base = ['-i', 'fleet.yaml', ...requiredBut()]
  const lines: string[][] = [
    [...pos, ...base],
    [...base, ...pos],
    [...pos, '--inventory', 'inv/fleet.yaml', ...requiredBut()],
    [...requiredBut(), ...pos, '--inventory=inv/fleet.yaml'],
    [...pos, '-iinv.yaml', ...requiredBut()],
    [...pos, ...requiredBut(), '-i=inv.yaml'],
  ]
  for (const f of flags) {
    if (f.name === 'inventory') continue
    const others = ['-i', 'fleet.yaml', ...requiredBut(f.name)]
    if (f.type === 'boolean') {
      lines.push([...pos, ...others, `--${f.name}`])
      if (f.char) lines.push([`-${f.char}`, ...others, ...pos])
    } else {
      for (const v of ['5', 'ring=canary,!berlin-*', 'a value with spaces', 'x']) {
        lines.push([...pos, ...others, `--${f.name}`, v])
        lines.push([...others, `--${f.name}=${v}`, ...pos])
      }
      if (f.char) lines.push([...pos, ...others, `-${f.char}`, '3'], [...pos, ...others, `-${f.char}3`], [...pos, ...others, `-${f.char}=csv`])
    }
  }
  // everything at once, in declaration order and reversed
  const all: string[] = []
  for (const f of flags) all.push(...(f.type === 'boolean' ? [`--${f.name}`] : [`--${f.name}`, f.required ? '1.6.0' : '7']))
  lines.push([...pos, ...all])
  const pairs: string[][] = []
  for (let i = 0; i < all.length; i++) pairs.push(all[i + 1] !== undefined && !all[i + 1].startsWith('--') ? [all[i], all[++i]] : [all[i]])
  lines.push([...pairs.reverse().flat(), ...pos])
  return lines
}

describe('fast start: the manifest and the command classes', () => {
  it('has one action per command and a class per manifest command', () => {
    expect(Object.keys(COMMANDS).sort()).toEqual(Object.keys(manifest.commands).sort())
    expect(Object.keys(CLASSES).sort()).toEqual(Object.keys(manifest.commands).sort())
  })

  it('the committed manifest holds the flags and args the classes declare', () => {
    expect(manifest.version).toBe(pjson.version)
    const pick = (o: any, keys: string[]) => ({...Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])), multiple: Boolean(o.multiple)})
    const FLAG = ['type', 'char', 'env', 'default', 'required', 'options', 'multiple', 'allowNo']
    const ARG = ['required', 'options', 'default']
    for (const [id, C] of Object.entries(CLASSES)) {
      const m = manifest.commands[id]
      expect(Object.keys(m.flags), id).toEqual(Object.keys(C.flags))
      for (const [name, f] of Object.entries<any>(C.flags)) {
        expect(pick(m.flags[name], FLAG), `${id} --${name}`).toEqual(pick(f, FLAG))
        // custom value parsing is not in the manifest, so the fast parser cannot know of it
        expect(String(f.parse), `${id} --${name}`).toMatch(/^async \((input|b), _(ctx)?(, _opts)?\) => (input|b)$/)
      }
      expect(Object.keys(m.args ?? {}), id).toEqual(Object.keys(C.args ?? {}))
      for (const [name, a] of Object.entries<any>(C.args ?? {})) {
        expect(pick(m.args![name], ARG), `${id} ${name}`).toEqual(pick(a, ARG))
        expect(a.ignoreStdin, `${id} ${name}`).toBeUndefined()
      }
      expect(m.strict ?? true).toBe(C.strict)
    }
  })
})

describe('fast start: parses like oclif', () => {
  const ctx = () => ({env: process.env, stdinIsTTY: true})

  for (const id of Object.keys(CLASSES)) {
    it(`${id}: ordinary command lines give oclif's flags and args`, async () => {
      for (const line of ordinaryLines(id)) {
        const expected = await oclifParse(id, line)
        expect(expected, `oclif rejects ${id} ${line.join(' ')}`).not.toBeInstanceOf(Error)
        const fast = parseCommandLine(manifest, [...words(id), ...line], ctx())
        expect(fast, `${id} ${line.join(' ')}`).toStrictEqual({id, ...(expected as object)})
        expect(Object.keys(fast!.flags)).toEqual(Object.keys((expected as any).flags))
      }
    })
  }

  it('takes --inventory from GWFLEET_INVENTORY when not given, like oclif', async () => {
    for (const [env, line] of [
      [{GWFLEET_INVENTORY: 'env.yaml'}, ['--json']],
      [{GWFLEET_INVENTORY: 'env.yaml'}, ['-i', 'flag.yaml']],
      [{GWFLEET_INVENTORY: ''}, ['--json']],
      [{}, ['--json']],
    ] as [Record<string, string>, string[]][]) {
      for (const id of ['audit', 'deploy', 'locks:list']) {
        await withEnv(env, async () => {
          const expected = await oclifParse(id, line)
          expect(parseCommandLine(manifest, [...words(id), ...line], ctx())).toStrictEqual({id, ...(expected as object)})
        })
      }
    }
    await withEnv({GWFLEET_INVENTORY: 'env.yaml'}, async () => {
      const expected = await oclifParse('logs', ['berlin-1', '-f'])
      expect(parseCommandLine(manifest, ['logs', 'berlin-1', '-f'], ctx())).toStrictEqual({id: 'logs', ...(expected as object)})
      expect(parseCommandLine(manifest, ['logs', 'berlin-1', '-f'], ctx())!.flags.inventory).toBe('env.yaml')
    })
  })

  it('gives the exact values of typical command lines', () => {
    expect(parseCommandLine(manifest, ['audit', '-i', 'fleet.yaml', '--json'], ctx())).toStrictEqual({
      id: 'audit',
      flags: {inventory: 'fleet.yaml', concurrency: '64', json: true, 'connect-timeout': '15s', output: 'table'},
      args: {},
    })
    expect(parseCommandLine(manifest, ['locks', 'clear', '-l', 'berlin-1', '-y'], ctx())).toStrictEqual({
      id: 'locks:clear',
      flags: {limit: 'berlin-1', concurrency: '64', 'connect-timeout': '15s', yes: true},
      args: {},
    })
    expect(parseCommandLine(manifest, ['history', '-n', '3'], ctx())).toStrictEqual({
      id: 'history',
      flags: {concurrency: '64', 'connect-timeout': '15s', last: '3'},
      args: {},
    })
  })

  const declined: string[][] = [
    [],
    ['--help'],
    ['--version'],
    ['-h'],
    ['audit', '--help'],
    ['audit', '-i', 'f', '--help'],
    ['audit', '-h'],
    ['audit', '--version'],
    ['bogus'],
    ['bogus', '-i', 'f'],
    ['locks'],
    ['locks', '-i', 'f'],
    ['locks', 'bogus'],
    ['locks:list', '-i', 'f'],
    ['-i', 'f', 'audit'],
    ['audit', '--bogus'],
    ['audit', '-z'],
    ['audit', '--no-json'],
    ['audit', '-i', 'a', '-i', 'b'],
    ['audit', '-i', 'a', '--inventory', 'b'],
    ['audit', '--json', '--json'],
    ['audit', '-i'],
    ['audit', '-i', '--json'],
    ['audit', '--inventory='],
    ['audit', '-i='],
    ['audit', '-i', ''],
    ['audit', '--json=true'],
    ['audit', '--', '-i', 'f'],
    ['audit', '-i', 'f', '--'],
    ['audit', '-l', '-x'],
    ['audit', '--limit=-x'],
    ['audit', '-l-x'],
    ['audit', '-c', '-5'],
    ['audit', '-'],
    ['audit', 'extra'],
    ['audit', '-i', 'f', 'extra'],
    ['upgrade', '-i', 'f'],
    ['history', 'a', 'b'],
    ['history', '-5'],
    ['logs', '-i', 'f'],
    ['logs', 'a', 'b'],
    ['uninstall', '-yi', 'f'],
    ['logs', 'a', '-fi', 'x'],
    ['preflight', '-o', 'csv'],
    ['status', '--follow', 'x'],
  ]

  it('leaves odd command lines to oclif', async () => {
    for (const argv of declined) expect(parseCommandLine(manifest, argv, ctx()), argv.join(' ')).toBeUndefined()
    // the ones oclif itself rejects are all among them
    for (const argv of [['audit', '--bogus'], ['audit', '-i'], ['upgrade', '-i', 'f'], ['history', 'a', 'b'], ['logs', '-i', 'f'], ['audit', '-i', 'a', '-i', 'b']]) {
      expect(await oclifParse(argv[0], argv.slice(1))).toBeInstanceOf(Error)
    }
  })

  it('leaves a missing optional arg to oclif when stdin is not a terminal (oclif reads it from stdin)', () => {
    expect(parseCommandLine(manifest, ['history', '-i', 'f'], {env: {}, stdinIsTTY: false})).toBeUndefined()
    expect(parseCommandLine(manifest, ['status', '-i', 'f'], {env: {}, stdinIsTTY: false})).toBeUndefined()
    expect(parseCommandLine(manifest, ['status', 'b', '-i', 'f'], {env: {}, stdinIsTTY: false})?.args).toEqual({gateway: 'b'})
    expect(parseCommandLine(manifest, ['audit', '-i', 'f'], {env: {}, stdinIsTTY: false})?.id).toBe('audit')
  })

  it('leaves everything to oclif for manifest features it does not model', () => {
    const changed = (f: (m: any) => void) => {
      const m = structuredClone(manifest) as any
      f(m)
      return parseCommandLine(m, ['audit', '-i', 'f'], ctx())
    }
    expect(changed(() => {})).toBeDefined()
    expect(changed((m) => (m.commands.audit.aliases = ['a']))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.strict = false))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.flags.json.allowNo = true))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.flags.limit.multiple = true))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.flags.limit.exclusive = ['json']))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.flags.limit.type = 'custom'))).toBeUndefined()
    expect(changed((m) => (m.commands.audit.deprecationOptions = {}))).toBeUndefined()
    expect(changed((m) => (m.commands.bogus = m.commands.audit))).toBeDefined()
    expect(changed((m) => (m.commands.audit.id = 'not-in-the-table'))).toBeUndefined()
  })

  it('checks options of given values', () => {
    const m = structuredClone(manifest) as any
    m.commands.audit.flags.output.options = ['table', 'json', 'csv']
    expect(parseCommandLine(m, ['audit', '-o', 'csv'], ctx())?.flags.output).toBe('csv')
    expect(parseCommandLine(m, ['audit', '-o', 'xml'], ctx())).toBeUndefined()
  })
})

describe('fast start: the environment', () => {
  const home = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'gwfleet-fast-'))
  afterAll(() => fs.rmSync(home, {recursive: true, force: true}))

  it('leaves oclif debugging, oclif settings and user plugins to oclif', () => {
    const env = {HOME: home}
    expect(environmentAllows(env, pjson)).toBe(process.platform !== 'win32')
    expect(environmentAllows({...env, DEBUG: '*'}, pjson)).toBe(false)
    expect(environmentAllows({...env, GWFLEET_DEBUG: '1'}, pjson)).toBe(false)
    expect(environmentAllows({...env, OCLIF_IGNORE_MANIFEST: '1'}, pjson)).toBe(false)
    expect(environmentAllows(env, {...pjson, oclif: {...pjson.oclif, hooks: {init: './x.js'}}})).toBe(false)
    expect(environmentAllows(env, {...pjson, oclif: {...pjson.oclif, plugins: ['@oclif/plugin-x']}})).toBe(false)
    expect(environmentAllows(env, {...pjson, oclif: {...pjson.oclif, topicSeparator: ':'}})).toBe(false)
    fs.mkdirSync(path.join(home, '.local', 'share', 'gwfleet'), {recursive: true})
    fs.writeFileSync(path.join(home, '.local', 'share', 'gwfleet', 'package.json'), '{}')
    expect(environmentAllows(env, pjson)).toBe(false)
    expect(environmentAllows({...env, GWFLEET_DATA_DIR: path.join(home, 'elsewhere')}, pjson)).toBe(process.platform !== 'win32')
  })
})

describe('fast start: imports', () => {
  /** Every module fast.ts can load at run time (static and dynamic imports, type-only ones dropped). */
  function runtimeImports(entry: string): {files: Set<string>; packages: Set<string>} {
    const files = new Set<string>()
    const packages = new Set<string>()
    const todo = [entry]
    while (todo.length) {
      const file = todo.pop()!
      if (files.has(file)) continue
      files.add(file)
      const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        compilerOptions: {module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022},
      }).outputText
      for (const m of js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
        const spec = m[1]
        if (spec.startsWith('.')) todo.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')))
        else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0])
      }
    }
    return {files, packages}
  }

  it('fast.ts never loads @oclif/core, not even through the actions it runs', () => {
    const {files, packages} = runtimeImports(path.join(ROOT, 'src', 'cli', 'fast.ts'))
    expect(files.has(path.join(ROOT, 'src', 'cli', 'actions.ts'))).toBe(true)
    expect(files.has(path.join(ROOT, 'src', 'cli', 'ops.ts'))).toBe(true)
    expect(packages.has('ssh2')).toBe(true)
    expect([...packages].filter((p) => p.startsWith('@oclif/') || p === 'oclif')).toEqual([])
    expect([...files].filter((f) => /cli[/\\](base|flags|help)\.ts$/.test(f))).toEqual([])
  })

  it('bin/run.js tries the fast path before importing oclif, unless the build is stale', () => {
    const bin = fs.readFileSync(path.join(ROOT, 'bin', 'run.js'), 'utf8')
    expect(bin).toContain("import('../dist/fast/fast.js')")
    expect(bin).toContain("mtime('../oclif.manifest.json')")
    expect(bin).not.toMatch(/^import .*@oclif\/core/m)
    expect(bin.indexOf('runFast(')).toBeLessThan(bin.indexOf("import('@oclif/core')"))
  })
})
