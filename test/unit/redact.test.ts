// Masking: every form a secret takes in output is replaced (as it is, YAML- and JSON-escaped, line
// by line, base64), also in the values file gwfleet itself renders; the host's history keeps only
// gwfleet's own words.
import {generateKeyPairSync} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {Document, stringify} from 'yaml'

import {renderValues} from '../../src/inventory/values.js'
import {ownWords, Redactor, secretForms} from '../../src/runner/redact.js'

const QUOTE = 'Qu0te"Back\\slash$ecret'
const PEM = generateKeyPairSync('rsa', {modulusLength: 2048, publicKeyEncoding: {type: 'spki', format: 'pem'}, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}}).privateKey.trimEnd()
const PEM_BODY = PEM.split('\n').filter((l) => !l.startsWith('-----'))
const M = '[redacted]'

function redactorOf(...secrets: string[]): Redactor {
  const r = new Redactor()
  r.add(secrets)
  return r
}

/** The text of a one-key YAML document whose value is written in the given style. */
function yamlWith(value: string, type: 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'PLAIN' | 'BLOCK_LITERAL'): string {
  const doc = new Document({key: value})
  ;(doc.contents as any).items[0].value.type = type
  return doc.toString({lineWidth: 0})
}

describe('redaction: every form of a secret', () => {
  it('masks the secret as it is, longest first, and ignores strings too short to be secrets', () => {
    const r = redactorOf('abc-secret', 'abc-secret-longer', 'x', '')
    expect(r.size).toBe(2)
    expect(r.redact('a abc-secret-longer b abc-secret c x')).toBe(`a ${M} b ${M} c x`)
    expect(r.redact('nothing here')).toBe('nothing here')
  })

  it('masks a secret with a quote and a backslash as YAML writes it, double- and single-quoted, and as JSON writes it', () => {
    const r = redactorOf(QUOTE, "it's-a-Secret")
    // The forms themselves, spelled out (not taken from the code under test).
    expect(r.redact('Qu0te\\"Back\\\\slash$ecret')).toBe(M) // YAML double-quoted and JSON
    expect(r.redact('Qu0te\\\\\\"Back\\\\\\\\slash$ecret')).toBe(M) // the YAML form inside a JSON string
    expect(r.redact("it''s-a-Secret")).toBe(M) // YAML single-quoted
    for (const type of ['QUOTE_DOUBLE', 'QUOTE_SINGLE', 'PLAIN', 'BLOCK_LITERAL'] as const) {
      for (const s of [QUOTE, "it's-a-Secret"]) {
        const text = yamlWith(s, type)
        const out = r.redact(text)
        expect(out, `${type}: ${text}`).toContain(M)
        expect(out).not.toMatch(/slash\$ecret|s-a-Secret/)
        // The JSON of a line holding it (an error with the installer's last line, in --json).
        expect(r.redact(JSON.stringify({error: `installer said: ${text}`}))).not.toMatch(/slash\$ecret|s-a-Secret/)
      }
    }
  })

  it('masks each line of a multi-line secret on its own, but not the PEM armour nor very short lines', () => {
    const r = redactorOf(PEM, 'user\nab\npassword1')
    expect(PEM_BODY.length).toBeGreaterThan(10)
    for (const line of PEM_BODY) expect(r.redact(`| ${line}`)).toBe(`| ${M}`)
    expect(r.redact('-----BEGIN PRIVATE KEY-----')).toBe('-----BEGIN PRIVATE KEY-----')
    expect(r.redact('-----END PRIVATE KEY-----')).toBe('-----END PRIVATE KEY-----')
    expect(r.redact(PEM)).toBe(M)
    expect(r.redact(JSON.stringify(PEM))).toBe(`"${M}"`)
    expect(r.redact('password1 user ab')).toBe(`${M} ${M} ab`)
  })

  it('masks base64 of a secret: on its own, inside basic auth at any offset, and with a newline after it', () => {
    const r = redactorOf(QUOTE, 'hp-9fK$e2e-helm-password')
    const b64 = (s: string) => Buffer.from(s).toString('base64')
    for (const s of [QUOTE, 'hp-9fK$e2e-helm-password']) {
      expect(r.redact(b64(s))).toBe(M)
      expect(r.redact(`${b64(`${s}\n`)}`)).toContain(M)
      for (const user of ['a', 'ad', 'adm', 'admin']) {
        const auth = b64(`${user}:${s}`)
        const out = r.redact(`Authorization: Basic ${auth}`)
        expect(out, user).toContain(M)
        // What is left of the encoding is at most a group either side: too little to decode the secret.
        expect(out.replace(/^Authorization: Basic /, '').replace(M, '').length).toBeLessThanOrEqual(12)
      }
    }
  })

  it('masks the start of a secret where a text was cut short inside it, but not words that merely end like one', () => {
    const r = redactorOf(QUOTE, 'password123', PEM)
    const line = `installer 1.4.0 exited with code 3: note: "Qu0te\\"Back\\\\slash$ecret"`
    for (let cut = line.indexOf('Qu0te') + 8; cut < line.length - 1; cut++) expect(r.redact(line.slice(0, cut)), String(cut)).toBe(`installer 1.4.0 exited with code 3: note: "${M}`)
    expect(r.redact(`| ${PEM_BODY[2]!.slice(0, 40)}`)).toBe(`| ${M}`)
    expect(r.redact('the installer will bypass')).toBe('the installer will bypass')
    expect(r.redact('cut at passw')).toBe('cut at passw')
    expect(r.redact('cut at passwo')).toBe(`cut at ${M}`)
    expect(r.redact('------------------')).toBe('------------------')
    expect(r.redact('key follows: -----BEGIN PRIVATE KEY-----')).toBe('key follows: -----BEGIN PRIVATE KEY-----')
  })

  it('masks base64 of each line of a multi-line secret (a file of the values base64-encoded)', () => {
    const r = redactorOf(PEM)
    const encoded = Buffer.from(`key: "${PEM.replace(/\n/g, '\n\n  ')}"\n`).toString('base64')
    const out = r.redact(encoded)
    // Decode what is left at every alignment: no line of the key comes back.
    const left = out.split(M).flatMap((part) => [0, 1, 2, 3].map((o) => Buffer.from(part.slice(o), 'base64').toString('latin1')))
    for (const line of PEM_BODY) expect(left.some((t) => t.includes(line.slice(0, 16)) || t.includes(line.slice(-16)))).toBe(false)
  })

  it('masks the forms of secrets in the values file gwfleet renders for upload, line by line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-redact-'))
    fs.writeFileSync(path.join(dir, 'key.pem'), `${PEM}\n`)
    const file = path.join(dir, 'values.yaml')
    fs.writeFileSync(file, 'auth:\n  orchestrator:\n    clientSecret: ${env:GW_Q}\ntls:\n  key: ${file:key.pem}\nnote: "pre-${env:GW_Q}-post"\n')
    const v = await renderValues(file, {env: {GW_Q: QUOTE}})
    // The upload holds the escaped forms and the key's lines, not the secrets as they are.
    expect(v.text).toContain('Qu0te\\"Back\\\\slash$ecret')
    expect(v.text).toContain(PEM_BODY[3])
    const r = new Redactor()
    r.add(v.secrets)
    const out = v.text.split('\n').map((l) => r.redact(l))
    expect(out.join('\n')).not.toMatch(/slash\$ecret/)
    for (const line of PEM_BODY) expect(out.some((l) => l.includes(line))).toBe(false)
    expect(out.join('\n')).toContain('-----BEGIN PRIVATE KEY-----')
    fs.rmSync(dir, {recursive: true, force: true})
  })

  it('lists the forms of a secret with the secret itself first', () => {
    const forms = secretForms(QUOTE)
    expect(forms[0]).toBe(QUOTE)
    expect(forms).toContain(stringify(QUOTE, {defaultStringType: 'QUOTE_DOUBLE'}).trim().slice(1, -1))
    expect(forms).toContain(Buffer.from(QUOTE).toString('base64'))
  })

  it('masks the same with many secrets as with few (the indexed scan)', () => {
    const many = Array.from({length: 400}, (_, i) => `secret-${i}-${'x'.repeat(i % 7)}-tail`)
    const r = redactorOf(...many, QUOTE)
    const line = `start ${many[137]} mid ${QUOTE} and Qu0te\\"Back\\\\slash$ecret end ${many[399]}`
    expect(r.redact(line)).toBe(`start ${M} mid ${M} and ${M} end ${M}`)
    expect(r.redact('secret-1 is not one')).toBe('secret-1 is not one')
  })
})

describe('history keeps gwfleet words only', () => {
  it('drops what follows the first ": " (installer lines, remote errors)', () => {
    expect(ownWords('installer 1.5.0 exited with code 3: note: "Qu0te\\"Back\\\\slash$ecret"')).toBe('installer 1.5.0 exited with code 3')
    expect(ownWords('installer 1.5.0 never reported "All services are ready."')).toBe('installer 1.5.0 never reported "All services are ready."')
    expect(ownWords('cannot start a remote command: \u001b[2Jchannel open failure')).toBe('cannot start a remote command')
    expect(ownWords(`x${'y'.repeat(300)}`).length).toBe(160)
  })
})
