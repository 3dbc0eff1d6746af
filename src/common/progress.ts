// Progress messages thinned for clients: a pull or load reports every chunk it reads, a
// terminal redraws at most a few times a second.

/**
 * At most one in-progress message per key (a layer and its status) every `ms`; a message of
 * a new key, and one that is not in progress (a status, the last one of a layer), always pass.
 */
export function throttleProgress<T>(emit: (p: T) => void, key: (p: T) => string, inProgress: (p: T) => boolean, ms = 100): (p: T) => void {
  const last = new Map<string, number>();
  return (p) => {
    if (inProgress(p)) {
      const k = key(p);
      const now = Date.now();
      if (now - (last.get(k) ?? 0) < ms) return;
      last.set(k, now);
    }
    emit(p);
  };
}
