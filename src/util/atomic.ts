// Files other programs read while gwfleet rewrites them (a metrics file a collector scrapes at any
// moment): written whole to a temporary file next to it, then renamed over it, so a reader sees
// the old file or the new one, never a part.
import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {access, open, rename, stat, unlink} from 'node:fs/promises'
import path from 'node:path'

import {InputError} from '../errors.js'

/** Refuse, as bad input naming `flag`, a file that cannot be written: no such folder, not writable, a directory. */
export async function checkWritableFile(file: string, flag: string): Promise<void> {
  const abs = path.resolve(file)
  const dir = path.dirname(abs)
  const st = await stat(dir).catch(() => null)
  if (!st?.isDirectory()) throw new InputError(`${file}: no folder ${dir}`, {file: flag})
  if (await access(dir, constants.W_OK).then(() => false, () => true)) throw new InputError(`${file}: the folder ${dir} is not writable`, {file: flag})
  if ((await stat(abs).catch(() => null))?.isDirectory()) throw new InputError(`${file} is a directory`, {file: flag})
}

/**
 * Write `text` to `file` atomically: a new temporary file in the same folder (created exclusively,
 * so nothing planted there is written through; its name ends in `.tmp`, which collectors skip),
 * flushed to disk, then renamed over `file`. On any error the temporary file is removed.
 */
export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const abs = path.resolve(file)
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, abs)
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw e
  }
}
