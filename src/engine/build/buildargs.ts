// Build arguments as dockerd's BuildArgs keeps them: those the client sent (--build-arg),
// those the Dockerfile declares (ARG, per stage) and before the first FROM (meta args, for
// FROM lines and as defaults), which of them were referenced (the rest are warned about),
// and the predefined proxy args that are always allowed and left out of the cache key
// unless declared.
const BUILTIN = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

type Values = Map<string, string | undefined>;

export class BuildArgs {
  private allowed: Values = new Map();
  private meta: Values = new Map();
  private referenced = new Set<string>();

  constructor(private readonly fromOptions: Values) {}

  static fromJson(args: Record<string, string | null>): BuildArgs {
    return new BuildArgs(new Map(Object.entries(args).map(([k, v]) => [k, v ?? undefined])));
  }

  /** A stage's copy: the meta args and references shared, its own ARGs empty. */
  forStage(): BuildArgs {
    const b = new BuildArgs(this.fromOptions);
    b.meta = new Map(this.meta);
    b.referenced = new Set(this.referenced);
    return b;
  }

  mergeReferenced(other: BuildArgs): void {
    for (const k of other.referenced) this.referenced.add(k);
  }

  addArg(key: string, value: string | undefined): void {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }

  addMetaArg(key: string, value: string | undefined): void {
    this.meta.set(key, value);
  }

  /** A builtin the Dockerfile did not declare does not make RUN's cache key. */
  isReferencedOrNotBuiltin(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN.has(key);
  }

  private value(key: string, mapping: Values): string | undefined {
    const opt = this.fromOptions.get(key);
    if (opt !== undefined) return opt;
    const def = mapping.get(key);
    if (def === undefined) return this.meta.get(key);
    return def;
  }

  private all(mapping: Values): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of new Set([...mapping.keys(), ...BUILTIN])) {
      if (!mapping.has(k) && !(BUILTIN.has(k) && this.fromOptions.get(k) !== undefined)) continue;
      const v = this.value(k, mapping);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  allAllowed(): Map<string, string> { return this.all(this.allowed); }
  allMeta(): Map<string, string> { return this.all(this.meta); }

  /** The allowed args as KEY=value, without those `env` sets (ENV wins over ARG). */
  filterAllowed(env: string[]): string[] {
    const set = new Set(env.map((e) => e.split('=')[0]));
    return [...this.allAllowed()].filter(([k]) => !set.has(k)).map(([k, v]) => `${k}=${v}`).sort();
  }

  /** dockerd's warning for --build-arg values no ARG took. */
  unusedWarning(): string | null {
    const left = [...this.fromOptions.keys()].filter((k) => !BUILTIN.has(k) && !this.referenced.has(k)).sort();
    return left.length ? `[Warning] One or more build-args [${left.join(' ')}] were not consumed\n` : null;
  }
}
