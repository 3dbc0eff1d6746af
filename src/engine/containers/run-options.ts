// Create-time checks of run options that need the host or the image: --init needs a static
// docker-init (tini) on the host to bind into the container; --device paths are device nodes;
// --platform matches the image (dockerd's 404, which makes the docker CLI pull); --sysctl
// names a namespaced sysctl the container's namespaces allow (dockerd's whitelist).
import { devicesFromPath } from '../../oci/host-devices.js';
import { invalidArgument, notFound } from '../../common/errors.js';
import { which } from '../../common/which.js';
import type { ContainerHooks, CreateContext } from './hooks.js';
import type { Container } from './model.js';
import { resolveUser } from '../../oci/user.js';
import { isIpcSysctl } from '../pods/sysctls.js';

/** Where docker-init is looked for: docker's own name, then Debian's tini-static (never the dynamic tini). */
const INIT_NAMES = ['docker-init', 'tini-static'];

let initPath: Promise<string | null> | null = null;

/** The static init bound at /sbin/docker-init for --init, or null. */
export function findInit(configured?: string): Promise<string | null> {
  if (configured) return which(configured);
  initPath ??= (async () => {
    for (const n of INIT_NAMES) {
      const p = await which(n);
      if (p) return p;
    }
    return null;
  })();
  return initPath;
}

/**
 * dockerd's error when it finds no init binary (exec.LookPath's, which makes the docker CLI
 * exit 127 as for a missing command), with what tsulad looked for and the fix.
 */
export function noInitError(configured?: string): Error {
  if (configured) {
    return invalidArgument(`exec: "${configured}": stat ${configured}: no such file or directory (daemon.json's init-path, for --init): point it at a static init such as Debian's /usr/bin/tini-static`);
  }
  return invalidArgument(`exec: "docker-init": executable file not found in $PATH (--init: tsulad looked for ${INIT_NAMES.join(', ')}): install Debian's tini package, whose /usr/bin/tini-static serves as docker-init, or set init-path in daemon.json`);
}

const ARCH: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', i386: '386' };

/** containerd's platforms.Parse, small: "os", "arch", "os/arch", "os/arch/variant". */
export function parsePlatform(p: string): { os: string; arch?: string } {
  const parts = p.toLowerCase().split('/');
  if (parts.length > 3 || parts.some((x) => !/^[a-z0-9_-]+$/.test(x))) throw invalidArgument(`invalid platform "${p}": want os[/arch[/variant]]`);
  if (parts.length === 1) {
    return ['linux', 'windows', 'darwin', 'freebsd'].includes(parts[0]!) ? { os: parts[0]! } : { os: 'linux', arch: ARCH[parts[0]!] ?? parts[0]! };
  }
  return { os: parts[0]!, arch: ARCH[parts[1]!] ?? parts[1]! };
}

/** dockerd's ValidateSysctl: only namespaced sysctls, and not for a namespace shared with the host. */
function checkSysctl(name: string, c: Container): void {
  const k = c.config;
  if (isIpcSysctl(name)) {
    if (k.hostNamespaces?.ipc) throw invalidArgument(`sysctl '${name}' is not allowed in host IPC namespace`);
    return;
  }
  if (name.startsWith('net.')) {
    if (k.network === 'host') throw invalidArgument(`sysctl '${name}' not allowed in host network namespace`);
    return;
  }
  throw invalidArgument(`sysctl '${name}' is not whitelisted`);
}

export class RunOptionHooks implements ContainerHooks {
  constructor(private readonly o: { initPath?: string } = {}) {}

  async create(rec: Container, ctx: CreateContext): Promise<void> {
    const k = rec.config;
    if (ctx.spec.platform) {
      const want = parsePlatform(ctx.spec.platform);
      const img = ctx.image;
      if (want.os !== img.os || (want.arch && want.arch !== img.architecture)) {
        throw notFound(`image with reference ${ctx.spec.image} was found but its platform (${img.os}/${img.architecture}) does not match the specified platform (${want.os}${want.arch ? `/${want.arch}` : ''})`);
      }
    }
    if (k.init && !(await findInit(this.o.initPath))) {
      throw noInitError(this.o.initPath);
    }
    // dockerd's DevicesFromPath errors, at create (dockerd's come at the start)
    for (const d of k.devices) await devicesFromPath(d.hostPath, d.containerPath, d.permissions || 'rwm');
    for (const name of Object.keys(k.sysctls ?? {})) checkSysctl(name, rec);
    if (k.hostNamespaces?.uts && ctx.spec.hostname) throw invalidArgument('conflicting options: hostname and the UTS mode');
    // a kubelet's run_as_username is looked up at create, as containerd's spec is built there
    // (dockerd's -u waits for the start); only then is the rootfs mounted at create
    if (ctx.spec.cri && k.user && !/^\d+(:\d+)?$/.test(k.user)) await resolveUser(await ctx.rootfs(), k.user);
  }
}
