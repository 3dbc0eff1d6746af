// The options of the local volume driver (docker volume create -o type=... -o device=...
// -o o=...), as dockerd 20.10's volume/local checks and uses them: the checks at create, the
// split of `o` into mount flags and fs data (moby/sys/mount's table, which the error of a
// failed mount shows), and that error in dockerd's words. Pure: no mount happens here.
import { invalidArgument } from '../../common/errors.js';
import { ramInBytes } from '../../common/sizes.js';

const VALID = ['type', 'o', 'device', 'size'];
// each option and those it needs; dockerd checks them in this order, needs in list order
const REQUIRES: Array<[string, string[]]> = [['device', ['type']], ['type', ['device']], ['o', ['device', 'type']]];

/**
 * dockerd's refusals of a volume's options at create, each prefixed "create NAME: " as its
 * volume service says them. `quota`: the volumes' filesystem can enforce `size` (dockerd's
 * quotaCtl, xfs with project quotas); tsulad has no quota control, so its callers pass false.
 */
export function validateVolumeOptions(name: string, opts: Record<string, string>, quota = false): void {
  const bad = (msg: string) => invalidArgument(`create ${name}: ${msg}`);
  for (const k of Object.keys(opts)) if (!VALID.includes(k)) throw bad(`invalid option: ${JSON.stringify(k)}`);
  for (const [k, needs] of REQUIRES) {
    if (!(k in opts)) continue;
    for (const n of needs) if (!(n in opts)) throw bad(`missing required option: ${JSON.stringify(n)}`);
  }
  if ('size' in opts) {
    let size: number;
    try { size = ramInBytes(opts.size!); } catch (e) { throw bad((e as Error).message); }
    if (size > 0 && !quota) throw bad('quota size requested but no quota support');
  }
}

/** A volume with these options is mounted while in use (dockerd's needsMount). */
export function needsMount(opts: Record<string, string>): boolean {
  return !!opts.device || !!opts.type;
}

const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20, MANDLOCK: 0x40, DIRSYNC: 0x80,
  NOATIME: 0x400, NODIRATIME: 0x800, BIND: 0x1000, REC: 0x4000, UNBINDABLE: 0x20000, PRIVATE: 0x40000, SLAVE: 0x80000,
  SHARED: 0x100000, RELATIME: 0x200000, STRICTATIME: 0x1000000,
} as const;

// moby/sys/mount's table: [clears the flag, flag]; a word not here (or "defaults", flag 0) is fs data
const FLAGS: Record<string, [boolean, number]> = {
  ro: [false, MS.RDONLY], rw: [true, MS.RDONLY], suid: [true, MS.NOSUID], nosuid: [false, MS.NOSUID],
  dev: [true, MS.NODEV], nodev: [false, MS.NODEV], exec: [true, MS.NOEXEC], noexec: [false, MS.NOEXEC],
  sync: [false, MS.SYNCHRONOUS], async: [true, MS.SYNCHRONOUS], dirsync: [false, MS.DIRSYNC], remount: [false, MS.REMOUNT],
  mand: [false, MS.MANDLOCK], nomand: [true, MS.MANDLOCK], atime: [true, MS.NOATIME], noatime: [false, MS.NOATIME],
  diratime: [true, MS.NODIRATIME], nodiratime: [false, MS.NODIRATIME], bind: [false, MS.BIND], rbind: [false, MS.BIND | MS.REC],
  unbindable: [false, MS.UNBINDABLE], runbindable: [false, MS.UNBINDABLE | MS.REC], private: [false, MS.PRIVATE],
  rprivate: [false, MS.PRIVATE | MS.REC], shared: [false, MS.SHARED], rshared: [false, MS.SHARED | MS.REC],
  slave: [false, MS.SLAVE], rslave: [false, MS.SLAVE | MS.REC], relatime: [false, MS.RELATIME], norelatime: [true, MS.RELATIME],
  strictatime: [false, MS.STRICTATIME], nostrictatime: [true, MS.STRICTATIME],
};
const PROPAGATION = MS.SHARED | MS.PRIVATE | MS.SLAVE | MS.UNBINDABLE;

/** `o` as mount(2) gets it: flags, and the rest joined as the filesystem's data. */
export function splitMountOptions(o: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const w of o.split(',')) {
    const f = FLAGS[w];
    if (f) flags = f[0] ? flags & ~f[1] : flags | f[1];
    else data.push(w);
  }
  return { flags, data: data.join(',') };
}

/**
 * What mount(2) would be asked (the flags without the propagation ones, which dockerd sets
 * in a second call), or null when dockerd makes no mount call: a device of "" or "none" (or
 * `remount`) without data is a remount request in moby/sys/mount, and nothing is mounted.
 */
export function mountCall(opts: Record<string, string>): { device: string; type: string; flags: number; data: string } | null {
  const { flags, data } = splitMountOptions(opts.o ?? '');
  const device = opts.device ?? '';
  const remount = (flags & MS.REMOUNT) !== 0 || device === '' || device === 'none';
  if (remount && data === '') return null;
  return { device, type: opts.type ?? '', flags: flags & ~PROPAGATION, data };
}

/** The `addr=` of nfs/cifs options that dockerd resolves before the mount (not an IPv4 literal). */
export function addressToResolve(opts: Record<string, string>): string | null {
  if (opts.type !== 'nfs' && opts.type !== 'cifs') return null;
  const addr = (opts.o ?? '').split(',').find((w) => w.startsWith('addr='))?.slice(5) ?? '';
  return addr && !/^\d{1,3}(\.\d{1,3}){3}$/.test(addr) ? addr : null;
}

/** The options with that address replaced (its first occurrence, as dockerd does). */
export function withAddress(opts: Record<string, string>, from: string, to: string): Record<string, string> {
  return { ...opts, o: (opts.o ?? '').replace(`addr=${from}`, `addr=${to}`) };
}

// mount(8)'s words for the errno of the failed mount(2), which dockerd's message shows
const ERRNO_WORDS: Array<[RegExp, string]> = [
  [/special device .* does not exist|mount point does not exist|No such file or directory/i, 'no such file or directory'],
  [/unknown filesystem type/i, 'no such device'],
  [/wrong fs type, bad option|Invalid argument/i, 'invalid argument'],
  [/permission denied|must be superuser/i, 'permission denied'],
  [/operation not permitted/i, 'operation not permitted'],
  [/is not a block device/i, 'block device required'],
  [/mount point is not a directory|Not a directory/i, 'not a directory'],
  [/already mounted or mount point busy|busy/i, 'device or resource busy'],
];

/** mount(8)'s stderr as the errno text Go would print (its own first line if none fits). */
export function errnoText(stderr: string): string {
  for (const [re, words] of ERRNO_WORDS) if (re.test(stderr)) return words;
  const first = stderr.split('\n').find((l) => l.trim()) ?? 'mount failed';
  return first.replace(/^mount: /, '').trim();
}

/**
 * dockerd's "failed to mount local volume: mount DEV:TARGET, flags: 0x..., data: ...: errno",
 * with a cifs password masked as dockerd masks it.
 */
export function mountFailure(call: { device: string; flags: number; data: string }, target: string, errno: string, o = ''): string {
  let msg = `mount ${call.device ? `${call.device}:${target}` : target}`;
  if (call.flags) msg += `, flags: 0x${call.flags.toString(16)}`;
  if (call.data) msg += `, data: ${call.data}`;
  msg += `: ${errno}`;
  const password = o.split(',').find((w) => w.startsWith('password='))?.slice(9);
  if (password) msg = msg.replace(`password=${password}`, 'password=********');
  return `failed to mount local volume: ${msg}`;
}
