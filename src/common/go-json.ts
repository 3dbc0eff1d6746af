// Go's encoding/json matches an object's keys to a struct's fields case-insensitively when no
// key matches exactly, so dockerd takes `{"detachKeys": ...}` for DetachKeys (docker-py's
// exec_create sends that spelling). Our schemas match exactly: a body goes through this first.

/** `raw` with each key that matches one of `keys` only case-insensitively renamed to it (one level). */
export function foldGoKeys(raw: unknown, keys: readonly string[]): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const src = raw as Record<string, unknown>;
  const byLower = new Map(keys.map((k) => [k.toLowerCase(), k]));
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(src)) {
    const want = byLower.get(k.toLowerCase());
    if (!want || want === k || want in src) continue;
    out ??= { ...src };
    delete out[k];
    out[want] = v;
  }
  return out ?? raw;
}
