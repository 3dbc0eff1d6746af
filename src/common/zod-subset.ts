// The part of zod that tsula's lazy schemas use, named one by one: the bundler then keeps
// only these and what they need (~140 KB), where `import('zod')` would keep all of zod,
// every locale with it (~585 KB). A schema that needs more of zod adds it here.
//
// jitless: zod 4 compiles a parser for each object schema the first time it parses one
// (`new Function` over generated source, so that an optimising JIT can specialise it). The
// daemons run in V8's lite mode, which has no optimising JIT: the generated code only costs,
// ~125 KB of source held for ever and its bytecode (a docker create body's schema alone is
// ~50 KB of it). Set before any schema is built: every zod import goes through this module.
import { config } from 'zod';

config({ jitless: true });

export { array, boolean, enum, literal, looseObject, number, object, record, string, union, unknown } from 'zod';
