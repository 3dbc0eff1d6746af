// tsula's native addon (native/tsula_native.c, built into build/native/ by scripts/bundle.mjs
// when a C compiler and node's headers are there): process spawns through posix_spawn and
// the mount syscalls. Optional: without it (not built, TSULA_NATIVE=0, or inside a guest)
// callers take node's child_process and mount(8) as before.
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface NativeAddon {
  /** Whether this kernel has what spawn needs (pidfds: Linux >= 5.4). */
  usable(): boolean;
  /**
   * posix_spawnp(file, argv) with fds[i] as the child's fd i; env null: ours. onExit gets the
   * exit code (-1 when killed) and the signal (0 unless killed). Throws the errno's error.
   */
  spawn(file: string, argv: string[], env: string[] | null, cwd: string | null, fds: number[], newSession: boolean,
    keepsLoopAlive: boolean, onExit: (code: number, signal: number) => void): number;
  /** A connected AF_UNIX stream pair, both ends O_CLOEXEC (what node gives a child's 'pipe'). */
  socketpair(): [number, number];
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  umount(target: string, flags: number): Promise<void>;
  /** Whether the kernel takes x32 system calls (false on any host but x86_64). */
  x32Abi?(): boolean;
}

export const MNT_DETACH = 2;

const FILE = 'tsula_native.node';
let loaded: NativeAddon | null | undefined;

/** The addon, or null when it is not built or not wanted. */
export function native(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.TSULA_NATIVE === '0') return null;
  const file = process.env.TSULA_NATIVE_ADDON || find();
  if (!file) return null;
  try {
    // a builtin-free require from anywhere: the agent's bundle is CommonJS (no import.meta)
    const addon = createRequire('/')(file) as NativeAddon;
    if (addon.usable()) loaded = addon;
  } catch {
    // built for another node (its ABI) or a missing libc symbol: the fallbacks work
  }
  return loaded;
}

/**
 * Beside the running bundle (build/tsulad.mjs: build/native/), or a build/native/ up the tree
 * from it (the tests run the compiled modules of dist/).
 */
function find(): string | null {
  let dir: string;
  try { dir = path.dirname(realpathSync(process.argv[1] ?? '')); } catch { return null; }
  for (let i = 0; i < 5; i++) {
    for (const f of [path.join(dir, 'native', FILE), path.join(dir, 'build', 'native', FILE)]) if (existsSync(f)) return f;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}
