// zod schemas built on first use. Importing zod and building tsulad's ~370 schemas (request
// bodies, daemon.json) at start cost ~1.6 MB of RSS in a daemon that may validate nothing for
// hours; declared as functions of zod, a schema is built (and zod imported) at its first
// `await`, then kept. Types come from `import type * as z from 'zod'` and Infer below.
import type * as z from 'zod';

/** What a schema is made with: the functions of zod that ./zod-subset.ts names. */
export type Zod = typeof import('./zod-subset.js');

/** A schema built on first use: `(await schema()).safeParse(v)`. */
export type LazySchema<T extends z.ZodType> = () => Promise<T>;

/** What a lazy schema's parse returns (z.infer of the schema it builds). */
export type Infer<L extends LazySchema<z.ZodType>> = z.infer<Awaited<ReturnType<L>>>;

export function lazySchema<T extends z.ZodType>(make: (zod: Zod) => T): LazySchema<T> {
  let built: Promise<T> | undefined;
  return () => (built ??= import('./zod-subset.js').then(make));
}
