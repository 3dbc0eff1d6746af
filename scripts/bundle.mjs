// Bundle each program with esbuild: ESM, code-split into chunks (build/cli, build/lib) that load on
// first use; CommonJS for the guest agent and for the CLI's startup snapshot (both V8 snapshots).
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** The commit and time `docker version` shows for the engine (blank outside a git checkout). */
let commit = '';
try { commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
/**
 * The build's time: SOURCE_DATE_EPOCH (reproducible builds), else the commit's, else now. Not
 * the clock: the same sources must give the same chunk names, or a build run while a daemon
 * of the last one runs (install.sh, then test.sh) takes away the chunks it loads on first use.
 */
let built = '';
if (process.env.SOURCE_DATE_EPOCH) built = new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString();
else if (commit) {
  try { built = new Date(execFileSync('git', ['log', '-1', '--format=%cI'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()).toISOString(); } catch { /* no log */ }
}
if (!built) built = new Date().toISOString();

const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked',
  // a native addon can't be bundled; it is loaded from node_modules at run time (the daemons
  // and the agent bundle node-unix-socket's JavaScript: addonLoader). grpc-js
  // requires @grpc/proto-loader (and with it protobufjs, long, lodash.camelcase: ~190 KB of
  // source) only inside channelz and ORCA, which tsula never serves: left to node_modules, so
  // that a daemon whose CRI or sandbox API answered once does not hold that source in its heap
  external: ['node-unix-socket', '@grpc/proto-loader'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
  // no comments or indentation: node holds a module's whole source in memory (a non-ASCII
  // character in a comment would double it), and parses less at start-up; names are kept
  minifyWhitespace: true, minifySyntax: true,
  define: { __TSULA_GIT_COMMIT__: JSON.stringify(commit), __TSULA_BUILD_TIME__: JSON.stringify(built) },
};

/**
 * node-unix-socket (conmon's SEQPACKET attach socket) is bundled, and only its binary loader
 * (js/addon.js) is replaced: it finds the binary package's name by asking
 * process.report.getReport() whether libc is glibc: a whole diagnostic report (~10 ms and
 * ~1.7 MB of RSS for a daemon's lifetime with the modules it loads; ~130 ms under TCG).
 * The replacement requires the binary on first use, by its package's name:
 * - the agent's (`home`): from /opt/tsula/node_modules in the guest (TSULA_AGENT_HOME
 *   elsewhere); the guest is glibc x86-64 and build-guest.sh copies that binary package only.
 *   A startup snapshot can't hold a native binary, but it can hold the package's JavaScript
 *   and the builtins it loads (~0.6 s of the first attach under TCG when they were loaded then);
 * - the daemons': from the node_modules their bundle resolves from, glibc's build or musl's.
 */
function addonLoader(home) {
  const from = home
    ? `createRequire((process.env.TSULA_AGENT_HOME || ${JSON.stringify(home)}) + '/')`
    : 'require';
  const libcs = home ? ['gnu'] : ['gnu', 'musl'];
  return {
    name: 'addon-loader',
    setup(b) {
      b.onResolve({ filter: /^\.\/addon$/ }, (a) => (/node-unix-socket[\\/]js$/.test(a.resolveDir) ? { path: 'addon', namespace: 'addon-loader' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'addon-loader' }, () => ({
        loader: 'js',
        contents: `
          const { createRequire } = require('node:module');
          let binding;
          const load = () => {
            if (binding) return binding;
            const req = ${from};
            let err;
            for (const libc of ${JSON.stringify(libcs)}) {
              try { return (binding = req('node-unix-socket-linux-' + process.arch + '-' + libc)); } catch (e) { err ??= e; }
            }
            throw err;
          };
          module.exports = new Proxy({}, { get: (_t, k) => load()[k] });`,
      }));
    },
  };
}

/**
 * tar's parser imports minizlib, and with it node:zlib, at its top, for archives compressed
 * as a whole; most are not (docker save's, ours). (node:zlib: ~2 MB of a bare node's RSS,
 * ~0.3 MB of tsulad's, where most of its pages are resident anyway.)
 * The daemons' bundle gets a stand-in whose classes require minizlib (its CommonJS build,
 * from node_modules) on first use. A tar module that imports another name from minizlib
 * fails the build here ("No matching export"), never a run.
 */
const lazyMinizlib = {
  name: 'lazy-minizlib',
  setup(b) {
    b.onResolve({ filter: /^minizlib$/ }, (a) => (a.namespace === 'lazy-minizlib' ? { path: 'minizlib', external: true } : { path: 'minizlib', namespace: 'lazy-minizlib' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-minizlib' }, () => ({
      loader: 'js',
      contents: ['Unzip', 'BrotliDecompress', 'ZstdDecompress'].map((k) => `export function ${k}(...a) { return new (load().${k})(...a); }`).join('\n') + `
        let m;
        const load = () => (m ??= require('minizlib'));`,
    }));
  },
};

/**
 * What the CLI's startup snapshot can't hold, deferred to run time:
 * - node:http and node:https: Node 20 can't put them in a snapshot (their module bodies fail
 *   in the snapshot builder); a proxy requires them on first use;
 * - `import()` of a builtin: a snapshot has no dynamic import ("A dynamic import callback was
 *   not specified"); made a require, which esbuild then runs on first use as before.
 */
const snapshotSafe = {
  name: 'snapshot-safe',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => {
      if (a.namespace === 'snapshot-safe') return { path: a.path, external: true };
      if (/^node:https?$/.test(a.path)) return { path: a.path, namespace: 'snapshot-safe', pluginData: 'proxy' };
      if (a.kind === 'dynamic-import') return { path: a.path, namespace: 'snapshot-safe', pluginData: 'require' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'snapshot-safe' }, (a) => ({
      loader: 'js',
      contents: a.pluginData === 'require' ? `module.exports = require(${JSON.stringify(a.path)});` : `
        let m;
        const load = () => (m ??= require(${JSON.stringify(a.path)}));
        module.exports = new Proxy({}, { get: (_t, k) => load()[k], has: (_t, k) => k in load() });`,
    }));
  },
};

// the CLI's chunks of an earlier build (their names change with their content), and its
// snapshot, which must never outlive the bundle it was made from; the daemons' chunks are
// pruned after the build (keepDaemonChunks)
rmSync('build/cli', { recursive: true, force: true });
for (const f of ['build/tsula.blob', 'build/tsula.blob.key']) rmSync(f, { force: true });

const [, daemons] = await Promise.all([
  // the CLI in chunks: a command's modules are read and compiled only when it runs (V8 would
  // pre-parse one whole bundle at each start: ~40 ms of CPU per `tsula` call)
  build({
    ...common, entryPoints: { tsula: 'src/bin/tsula.ts' }, outdir: 'build', splitting: true,
    chunkNames: 'cli/[name]-[hash]', outExtension: { '.js': '.mjs' },
  }),
  // the daemons in chunks too, shared between them: what loads on first use (gRPC and
  // protobuf, CRI, the shim v2 client, the registry client) is neither read nor parsed nor
  // held in memory by a daemon that never uses it
  build({
    ...common, outdir: 'build', splitting: true, chunkNames: 'lib/[name]-[hash]', outExtension: { '.js': '.mjs' },
    entryPoints: {
      tsulad: 'src/bin/tsulad.ts', 'tsula-sandboxer': 'src/bin/tsula-sandboxer.ts',
      'containerd-shim-tsula-v2': 'src/bin/containerd-shim-tsula-v2.ts',
    },
    metafile: true, plugins: [addonLoader(), lazyMinizlib], external: ['@grpc/proto-loader'],
  }),
  // the guest agent: CommonJS, so that build-guest.sh can make a V8 startup snapshot of it
  // (node --build-snapshot takes a script, not a module); see addonLoader
  build({
    ...common, format: 'cjs', banner: {}, entryPoints: ['src/bin/tsula-agent.ts'], outfile: 'build/tsula-agent.cjs',
    plugins: [addonLoader('/opt/tsula')], external: [],
  }),
  // the CLI once more, as one CommonJS script for its startup snapshot (below)
  build({
    ...common, format: 'cjs', banner: {}, entryPoints: ['src/bin/tsula-snapshot.ts'], outfile: 'build/tsula-snapshot.cjs',
    plugins: [snapshotSafe],
  }),
]);

makeCliSnapshot();
buildNativeAddon();
keepDaemonChunks(Object.keys(daemons.metafile.outputs));

/**
 * build/lib keeps the chunks of the last GENERATIONS builds, not only this one's: a daemon
 * (tsulad, the sandboxer) started from an earlier build loads its modules on first use, and a
 * build under it (`npm run build`, install.sh before it restarts the daemons it finds stale)
 * would otherwise fail its next first use ("Cannot find module build/lib/…").
 */
function keepDaemonChunks(outputs) {
  const GENERATIONS = 4;
  const record = 'build/lib/.generations.json';
  let gens = [];
  try { gens = JSON.parse(readFileSync(record, 'utf8')); } catch { /* a first build */ }
  const mine = outputs.filter((f) => f.startsWith('build/lib/')).map((f) => path.basename(f));
  gens = [mine, ...gens.filter(Array.isArray)].slice(0, GENERATIONS);
  const keep = new Set(gens.flat());
  for (const f of readdirSync('build/lib')) if (!f.startsWith('.') && !keep.has(f)) rmSync(path.join('build/lib', f), { force: true });
  writeFileSync(record, JSON.stringify(gens));
}

/**
 * build/native/tsula_native.node from native/tsula_native.c: node-API only (one binary for any
 * node >= 20), compiled with the host's cc against this node's headers. The daemons run
 * without it (src/common/native.ts), so a failure here only warns.
 */
function buildNativeAddon() {
  const out = 'build/native/tsula_native.node';
  const include = path.join(path.dirname(process.execPath), '..', 'include', 'node');
  mkdirSync('build/native', { recursive: true });
  const made = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=tsula_native',
    `-I${include}`, '-o', `${out}.tmp`, 'native/tsula_native.c'], { encoding: 'utf8' });
  if (made.status !== 0) {
    rmSync(`${out}.tmp`, { force: true });
    rmSync(out, { force: true }); // never an addon older than its source
    console.warn(`bundle: no native addon (tsulad starts host tools through node's fork and mount(8), slower): ${(made.stderr || made.error?.message || `exit ${made.status}`).trim()}`);
    return;
  }
  renameSync(`${out}.tmp`, out);
}

/**
 * build/tsula.blob: the CLI's startup snapshot, made by this node on this CPU, and
 * build/tsula.blob.key, what bin/tsula checks before it uses it (V8 refuses a snapshot from
 * another node, other V8 flags or a CPU with other features, and node then exits 14 before
 * the CLI runs): the CPU's flags line from /proc/cpuinfo as its text, node's binary as its
 * mtime. Without them bin/tsula runs build/tsula.mjs, so a failure here only warns.
 */
function makeCliSnapshot() {
  const blob = 'build/tsula.blob';
  if (/[^\w$.]import\(/.test(readFileSync('build/tsula-snapshot.cjs', 'utf8'))) {
    throw new Error('build/tsula-snapshot.cjs has an import() left, which fails in a startup snapshot: see snapshotSafe');
  }
  // --no-rehash-snapshot, here and in bin/tsula (V8 takes a snapshot only under the flags it
  // was made with): V8 otherwise rehashes every hash table of the snapshot at each start with
  // a new seed, ~6 ms of the CLI's ~30 ms start-up for its 5 MB snapshot. The seed guards a
  // long-lived process against hash flooding by whoever feeds it keys; the CLI lives for one
  // command and hashes its user's arguments and its own daemon's answers.
  const made = spawnSync(process.execPath, ['--no-rehash-snapshot', '--snapshot-blob', `${blob}.tmp`, '--build-snapshot', 'build/tsula-snapshot.cjs'], { encoding: 'utf8' });
  if (made.status !== 0) {
    rmSync(`${blob}.tmp`, { force: true });
    console.warn(`bundle: no startup snapshot for the CLI (it runs from build/tsula.mjs): ${(made.stderr || made.error?.message || `exit ${made.status}`).trim()}`);
    return;
  }
  renameSync(`${blob}.tmp`, blob);
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\b/.test(l)) ?? '';
  writeFileSync(`${blob}.key.tmp`, `${cpu}\n`);
  // touch -r: node's mtime to the nanosecond, as the shell's test -nt/-ot compare it
  execFileSync('touch', ['-r', process.execPath, `${blob}.key.tmp`]);
  renameSync(`${blob}.key.tmp`, `${blob}.key`);
}
