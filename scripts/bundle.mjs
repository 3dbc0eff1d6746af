// Bundle each program into one ESM file: the CLI starts fast because node loads one file.
import { build } from 'esbuild';

const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked',
  // a native addon can't be bundled; it is loaded from node_modules at run time
  external: ['node-unix-socket'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['src/bin/tsula.ts'], outfile: 'build/tsula.mjs' }),
  build({ ...common, entryPoints: ['src/bin/tsulad.ts'], outfile: 'build/tsulad.mjs' }),
  build({ ...common, entryPoints: ['src/bin/tsula-sandboxer.ts'], outfile: 'build/tsula-sandboxer.mjs' }),
  build({ ...common, entryPoints: ['src/bin/containerd-shim-tsula-v2.ts'], outfile: 'build/containerd-shim-tsula-v2.mjs' }),
  build({ ...common, entryPoints: ['src/bin/tsula-agent.ts'], outfile: 'build/tsula-agent.mjs' }),
]);
