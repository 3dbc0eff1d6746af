// docker's mount requests, as the Linux parser of dockerd reads them, into the engine's model:
// Binds ("/host:/ctr[:opts]" a bind, "name:/ctr[:opts]" a named volume, "/ctr" an anonymous
// one), Config.Volumes (anonymous volumes), Mounts (type bind, volume, tmpfs with their
// options) and Tmpfs ("/ctr": "size=…,mode=…"). Volumes are named and made at create
// (engine/volumes/); here only the syntax and the conflicts between requests are checked.
import * as path from 'node:path';
import type * as z from 'zod';
import { invalidArgument } from '../../common/errors.js';
import type { Zod } from '../../common/lazy-schema.js';
import type { Bind, ImageMount, Propagation, TmpfsMount, VolumeMount } from '../containers/model.js';

const PROPAGATIONS = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
// no effect on Linux (macOS' file sharing) or without SELinux, in dockerd as here
const NO_OPS = ['z', 'Z', 'consistent', 'cached', 'delegated'];
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
// mount(8) options of tmpfs dockerd accepts (pkg/mount ParseTmpfsOptions)
const TMPFS_FLAGS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'sync', 'async', 'dirsync',
  'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'mand', 'nomand']);
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/** One HostConfig.Mounts entry, for the create body's schema (docker-model.ts). */
export const mountSchema = (z: Zod) => z.object({
  Type: z.string(),
  Source: z.string().nullish(),
  Target: z.string().nullish(),
  ReadOnly: z.boolean().nullish(),
  Consistency: z.string().nullish(),
  BindOptions: z.object({
    Propagation: z.string().nullish(), NonRecursive: z.boolean().nullish(),
    // API 1.42 and 1.44 (compat-create.ts clears them for older requests)
    CreateMountpoint: z.boolean().nullish(), ReadOnlyNonRecursive: z.boolean().nullish(), ReadOnlyForceRecursive: z.boolean().nullish(),
  }).passthrough().nullish(),
  VolumeOptions: z.object({
    NoCopy: z.boolean().nullish(),
    Subpath: z.string().nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
    DriverConfig: z.object({ Name: z.string().nullish(), Options: z.record(z.string(), z.string()).nullish() }).passthrough().nullish(),
  }).passthrough().nullish(),
  TmpfsOptions: z.object({
    SizeBytes: z.number().int().nullish(), Mode: z.number().int().nullish(),
    // API 1.46: mount(8) options, each ["flag"] or ["key", "value"]
    Options: z.array(z.array(z.string())).nullish(),
  }).passthrough().nullish(),
  ImageOptions: z.object({ Subpath: z.string().nullish() }).passthrough().nullish(),
}).passthrough();

export type MountBody = z.infer<ReturnType<typeof mountSchema>>;

export interface MountRequests {
  binds: Bind[];
  volumes: VolumeMount[];
  tmpfs: TmpfsMount[];
  images: ImageMount[];
  /** Labels for volumes a --mount makes (by name). */
  volumeLabels: Record<string, Record<string, string>>;
  /** The local driver's options (volume-opt) for volumes a --mount makes (by name). */
  volumeOptions: Record<string, Record<string, string>>;
}

function target(dst: string, spec: string): string {
  if (!path.posix.isAbsolute(dst)) throw invalidArgument(`invalid mount config: "${spec}": mount path must be absolute`);
  const d = path.posix.normalize(dst).replace(/(.)\/+$/, '$1');
  if (d === '/') throw invalidArgument(`invalid specification: destination can't be '/' in "${spec}"`);
  return d;
}

function volumeName(n: string, spec: string): string {
  if (!VOLUME_NAME.test(n)) {
    throw invalidArgument(n.length < 2 && /^[a-zA-Z0-9]$/.test(n)
      ? `volume name is too short, names should be at least two alphanumeric characters ("${spec}")`
      : `"${n}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return n;
}

/** Go's filepath.IsLocal: relative, inside its root, not empty. */
export function isLocalPath(p: string): boolean {
  if (!p || path.posix.isAbsolute(p)) return false;
  const n = path.posix.normalize(p);
  return n !== '..' && !n.startsWith('../');
}

function anonymous(destination: string, o: Partial<VolumeMount> = {}): VolumeMount {
  return { name: '', destination, readonly: false, anonymous: true, noCopy: false, source: '', ...o };
}

/** One HostConfig.Binds entry. */
export function parseBindSpec(spec: string): Bind | VolumeMount {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalidArgument(`invalid volume specification: '${spec}'`);
  if (parts.length === 1) return anonymous(target(parts[0]!, spec), { spec });
  const [src, dst, modeText = ''] = parts as [string, string, string?];
  let readonly = false; let rw = false; let nocopy = false; let propagation: string | undefined;
  for (const m of modeText ? modeText.split(',') : []) {
    if (m === 'ro') readonly = true;
    else if (m === 'rw') rw = true;
    else if (m === 'nocopy') nocopy = true;
    else if (PROPAGATIONS.includes(m) && !propagation) propagation = m;
    else if (!NO_OPS.includes(m)) throw invalidArgument(`invalid mode: ${m}`);
  }
  if (readonly && rw) throw invalidArgument(`invalid mode: ${modeText}`);
  const destination = target(dst, spec);
  if (path.posix.isAbsolute(src)) {
    if (nocopy) throw invalidArgument(`invalid mode: ${modeText} (nocopy is for volumes, not bind mounts)`);
    return { source: path.normalize(src), destination, readonly, propagation: (propagation ?? 'rprivate') as Propagation, spec, ...(propagation ? {} : { implicitPropagation: true }) };
  }
  // dockerd's validateMountConfigImpl: a propagation is the BindOptions a volume has none of
  if (propagation) throw invalidArgument(`invalid mount config for type "volume": field BindOptions must not be specified`);
  return { name: volumeName(src, spec), destination, readonly, anonymous: false, noCopy: nocopy, source: '', spec };
}

/** One HostConfig.Mounts entry (docker's --mount). */
export function parseMount(m: MountBody, into: MountRequests): void {
  const what = `mount ${m.Type}${m.Target ? ` at ${m.Target}` : ''}`;
  const bad = (msg: string) => invalidArgument(`invalid mount config for type "${m.Type}": ${msg}`);
  if (!m.Target) throw bad('field Target must not be empty');
  const destination = target(m.Target, what);
  const readonly = !!m.ReadOnly;
  if (m.Type !== 'bind' && m.BindOptions) throw bad('field BindOptions must not be specified');
  if (m.Type !== 'volume' && m.VolumeOptions) throw bad('field VolumeOptions must not be specified');
  if (m.Type !== 'tmpfs' && m.TmpfsOptions) throw bad('field TmpfsOptions must not be specified');
  if (m.Type !== 'image' && m.ImageOptions) throw bad('field ImageOptions must not be specified');
  if (m.Type === 'bind') {
    if (!m.Source) throw bad('field Source must not be empty');
    if (!path.isAbsolute(m.Source)) throw bad(`invalid mount path: '${m.Source}' mount path must be absolute`);
    const o = m.BindOptions;
    const p = o?.Propagation || 'rprivate';
    if (!PROPAGATIONS.includes(p)) throw bad(`invalid propagation mode: ${p}`);
    if (o?.ReadOnlyNonRecursive && o.ReadOnlyForceRecursive) throw bad('cannot use ReadOnlyNonRecursive and ReadOnlyForceRecursive together');
    if ((o?.ReadOnlyNonRecursive || o?.ReadOnlyForceRecursive) && !readonly) throw bad(`${o.ReadOnlyNonRecursive ? 'ReadOnlyNonRecursive' : 'ReadOnlyForceRecursive'} requires ReadOnly`);
    if (o?.ReadOnlyForceRecursive && p !== 'rprivate') throw bad('ReadOnlyForceRecursive requires BindOptions.Propagation to be rprivate');
    into.binds.push({
      source: path.normalize(m.Source), destination, readonly, propagation: p as Propagation, origin: 'mount',
      ...(o?.Propagation ? {} : { implicitPropagation: true }),
      ...(o?.CreateMountpoint ? { createMountpoint: true } : {}),
      // NonRecursive (API 1.40, docker's bind-recursive=disabled): a plain bind, no submounts
      ...(o?.NonRecursive ? { nonRecursive: true } : {}),
      ...(readonly && !o?.NonRecursive ? { recursiveReadonly: o?.ReadOnlyNonRecursive ? 'disabled' as const : o?.ReadOnlyForceRecursive ? 'forced' as const : 'enabled' as const } : {}),
    });
  } else if (m.Type === 'volume') {
    const drv = m.VolumeOptions?.DriverConfig;
    if (drv?.Name && drv.Name !== 'local') throw bad(`volume driver "${drv.Name}" is not supported: tsulad has the local driver only`);
    const opts = drv?.Options ?? {};
    const noCopy = !!m.VolumeOptions?.NoCopy;
    const subpath = m.VolumeOptions?.Subpath || undefined;
    if (subpath && !m.Source) throw bad('must not set Subpath when using anonymous volumes');
    if (subpath && !isLocalPath(subpath)) throw bad('subpath must be a relative path within the volume');
    // an anonymous volume is named at create, where its options could not follow it yet
    if (!m.Source && Object.keys(opts).length) throw bad('volume driver options (volume-opt) need a volume name (src=) with tsulad');
    if (!m.Source) {
      into.volumes.push(anonymous(destination, { readonly, noCopy, origin: 'mount' }));
    } else {
      const name = volumeName(m.Source, what);
      if (m.VolumeOptions?.Labels) into.volumeLabels[name] = m.VolumeOptions.Labels;
      if (Object.keys(opts).length) into.volumeOptions[name] = opts;
      into.volumes.push({ name, destination, readonly, anonymous: false, noCopy, source: '', origin: 'mount', ...(subpath ? { subpath } : {}) });
    }
  } else if (m.Type === 'tmpfs') {
    if (m.Source) throw bad('field Source must not be specified');
    const options: string[] = readonly ? ['ro'] : [];
    const size = m.TmpfsOptions?.SizeBytes;
    if (size !== undefined && size !== null) {
      if (size < 0) throw bad('invalid tmpfs size');
      if (size > 0) options.push(`size=${size}`);
    }
    if (m.TmpfsOptions?.Mode) options.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
    // API 1.46's Options: dockerd takes exec and noexec only
    for (const opt of m.TmpfsOptions?.Options ?? []) {
      if (opt.length < 1 || opt.length > 2) throw bad('invalid option array length');
      if (opt[0] !== 'exec' && opt[0] !== 'noexec') throw bad(`invalid option: ${opt[0]}`);
      options.push(opt.length === 1 ? opt[0] : `${opt[0]}=${opt[1]}`);
    }
    into.tmpfs.push({ destination, options, origin: 'mount' });
  } else if (m.Type === 'image') {
    // API 1.48: the image's filesystem, read-only (engine/containers/image-mounts.ts)
    if (!m.Source) throw bad('field Source must not be empty');
    const subpath = m.ImageOptions?.Subpath || undefined;
    if (subpath && !isLocalPath(subpath)) throw bad('subpath must be a relative path within the volume');
    into.images.push({ image: m.Source, destination, ...(subpath ? { subpath } : {}) });
  } else {
    throw invalidArgument(`mount type "${m.Type}" is not supported: bind, volume or tmpfs`);
  }
}

/** HostConfig.Tmpfs: "/run": "size=64m,mode=1777". */
export function parseTmpfs(dst: string, opts: string): TmpfsMount {
  const destination = target(dst, `--tmpfs ${dst}`);
  const options: string[] = [];
  for (const o of opts ? opts.split(',') : []) {
    const [k, v] = o.split('=', 2) as [string, string?];
    if (v === undefined ? !TMPFS_FLAGS.has(k) : !TMPFS_DATA.has(k)) throw invalidArgument(`invalid tmpfs option "${o}" for ${dst}`);
    if (k === 'size' && !/^\d+[kmgKMG%]?$/.test(v ?? '')) throw invalidArgument(`invalid tmpfs size "${v}" for ${dst}`);
    if (k === 'mode' && !/^[0-7]{1,4}$/.test(v ?? '')) throw invalidArgument(`invalid tmpfs mode "${v}" for ${dst}`);
    options.push(o);
  }
  return { destination, options };
}

export interface MountInputs {
  binds: string[];
  volumes: string[];
  mounts: MountBody[];
  tmpfs: Record<string, string>;
}

/** Every mount request of a create, checked against each other (dockerd's "Duplicate mount point"). */
export function parseMounts(i: MountInputs, o: { recursiveReadonly?: boolean } = {}): MountRequests {
  const out: MountRequests = { binds: [], volumes: [], tmpfs: [], images: [], volumeLabels: {}, volumeOptions: {} };
  const seen = new Set<string>();
  const claim = (d: string) => {
    if (seen.has(d)) throw invalidArgument(`Duplicate mount point: ${d}`);
    seen.add(d);
  };
  for (const b of i.binds) {
    const m = parseBindSpec(b);
    claim(m.destination);
    if ('name' in m) out.volumes.push(m); else out.binds.push(m);
  }
  for (const m of i.mounts) {
    parseMount(m, out);
    claim(target(m.Target!, `mount ${m.Type}`));
  }
  for (const [dst, o] of Object.entries(i.tmpfs)) {
    const t = parseTmpfs(dst, o);
    claim(t.destination);
    out.tmpfs.push(t);
  }
  // read-only binds are recursively so from API 1.44 on; older requests keep them as before
  for (const b of out.binds) {
    if (!b.readonly || b.nonRecursive) continue;
    if (!o.recursiveReadonly) delete b.recursiveReadonly;
    else b.recursiveReadonly ??= 'enabled';
  }
  // Config.Volumes (-v /path): an anonymous volume unless something else is mounted there
  for (const v of i.volumes) {
    // dockerd takes a relative one from the rootfs (createContainerOSSpecificSettings:
    // GetResourcePath of the cleaned path): the builder's `VOLUME ${FOO}`
    const d = target(v.startsWith('/') ? v : `/${v}`, v);
    if (!seen.has(d)) { seen.add(d); out.volumes.push(anonymous(d)); }
  }
  return out;
}
