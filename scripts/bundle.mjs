// Bundle each program into one ESM file: the CLI starts fast because node loads one file.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/** The commit and time `docker version` shows for the engine (blank outside a git checkout). */
let commit = '';
try { commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }

const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked',
  // a native addon can't be bundled; it is loaded from node_modules at run time
  external: ['node-unix-socket'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
  // no comments or indentation: node holds a module's whole source in memory (a non-ASCII
  // character in a comment would double it), and parses less at start-up; names are kept
  minifyWhitespace: true, minifySyntax: true,
  define: { __TSULA_GIT_COMMIT__: JSON.stringify(commit), __TSULA_BUILD_TIME__: JSON.stringify(new Date().toISOString()) },
};

/**
 * A startup snapshot can't hold a native addon: node-unix-socket is loaded on first use,
 * from /opt/tsula/node_modules in the guest (TSULA_AGENT_HOME elsewhere), not at start-up.
 */
const lazyAddon = {
  name: 'lazy-addon',
  setup(b) {
    b.onResolve({ filter: /^node-unix-socket$/ }, () => ({ path: 'node-unix-socket', namespace: 'lazy-addon' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-addon' }, () => ({
      loader: 'js',
      contents: `
        const { createRequire } = require('node:module');
        let m;
        const load = () => (m ??= createRequire((process.env.TSULA_AGENT_HOME || '/opt/tsula') + '/')('node-unix-socket'));
        exports.SeqpacketSocket = new Proxy(function SeqpacketSocket() {}, {
          construct: (_t, args) => new (load().SeqpacketSocket)(...args),
        });`,
    }));
  },
};

// the chunks of an earlier build (their names change with their content)
rmSync('build/cli', { recursive: true, force: true });
rmSync('build/lib', { recursive: true, force: true });

await Promise.all([
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
  }),
  // the guest agent: CommonJS, so that build-guest.sh can make a V8 startup snapshot of it
  // (node --build-snapshot takes a script, not a module); see lazyAddon
  build({
    ...common, format: 'cjs', banner: {}, entryPoints: ['src/bin/tsula-agent.ts'], outfile: 'build/tsula-agent.cjs',
    plugins: [lazyAddon], external: [],
  }),
]);
