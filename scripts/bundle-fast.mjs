// Bundles the fast start path (dist/src/cli/fast.js and every module it loads) into dist/fast/,
// so an ordinary command line loads a few files instead of each module of gwfleet, yaml, zod and
// p-limit one by one. Modules loaded with import() stay in chunks of their own, loaded on demand.
// ssh2 stays an installed package: it loads native code from its own folder. The version of the
// yaml copy bundled here is compiled in (the values cache keys on the yaml that renders). The
// bundle must not hold @oclif/core; the build fails if it does.
import {readFileSync} from 'node:fs'

import {build} from 'esbuild'

const result = await build({
  entryPoints: {fast: 'dist/src/cli/fast.js'},
  outdir: 'dist/fast',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ssh2'],
  define: {GWFLEET_BUNDLED_YAML: JSON.stringify(JSON.parse(readFileSync(new URL('../node_modules/yaml/package.json', import.meta.url), 'utf8')).version)},
  // Bundled CommonJS packages (yaml) call require() for Node's own modules.
  banner: {js: "import {createRequire as __gwfleetCreateRequire} from 'node:module'; const require = __gwfleetCreateRequire(import.meta.url);"},
  metafile: true,
  logLevel: 'warning',
})

const oclif = Object.keys(result.metafile.inputs).filter((f) => /(^|\/)node_modules\/(@oclif\/|oclif\/)/.test(f))
if (oclif.length > 0) {
  console.error(`bundle-fast: the fast start bundle must not hold oclif, but it holds:\n  ${oclif.join('\n  ')}`)
  process.exit(1)
}
