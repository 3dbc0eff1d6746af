// A real registry for pull tests: Debian's docker-registry on a port of its own choosing, on
// loopback (or HTTPS on another address), with its own storage dir (optionally behind htpasswd
// Basic auth), images pushed with skopeo, raw registry API helpers, and a small HTTP proxy in
// front of it that can corrupt a blob, hold one mid-way, lack one, count requests, serve under
// a path prefix (a mirror at http://host/prefix), or demand Bearer tokens from its own token
// server.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class TestRegistry {
  private proc: ChildProcess | null = null;
  port = 0;

  /** For skopeo's pushes to a registry that wants a client certificate: a dir with client.cert and client.key. */
  clientCertDir = '';

  private constructor(readonly dir: string, readonly addr: string, readonly tls: boolean, readonly creds?: { user: string; password: string }) {}

  get host(): string { return `${this.addr}:${this.port}`; }
  get url(): string { return `${this.tls ? 'https' : 'http'}://${this.host}`; }

  /**
   * Start docker-registry on a port the kernel picks (http.addr port 0; the registry logs the
   * one it got), so no other process can take it between a probe and the bind. With `htpasswd`
   * it wants Basic auth (bcrypt file made by htpasswd -B); with `tls` it serves HTTPS with that
   * certificate and key (PEM files), and with `tls.clientCas` it wants a client certificate
   * those CAs signed; `addr` is the IP it listens on (default 127.0.0.1).
   */
  static async start(opts: { htpasswd?: { user: string; password: string }; tls?: { cert: string; key: string; clientCas?: string[] }; addr?: string } = {}): Promise<TestRegistry> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-registry-'));
    const r = new TestRegistry(dir, opts.addr ?? '127.0.0.1', !!opts.tls, opts.htpasswd);
    let auth = '';
    if (opts.htpasswd) {
      const { stdout } = await execFileP('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password]);
      await fs.writeFile(path.join(dir, 'htpasswd'), stdout);
      auth = `auth:\n  htpasswd:\n    realm: tsula-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
    }
    const cas = opts.tls?.clientCas?.length ? `    clientcas:\n${opts.tls.clientCas.map((c) => `      - ${c}\n`).join('')}` : '';
    const tls = opts.tls ? `  tls:\n    certificate: ${opts.tls.cert}\n    key: ${opts.tls.key}\n${cas}` : '';
    await fs.writeFile(path.join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n` +
      `  delete:\n    enabled: true\nhttp:\n  addr: ${r.addr}:0\n  secret: tsula-test-secret\n${tls}${auth}`);
    const logFile = path.join(dir, 'registry.log');
    const log = await fs.open(logFile, 'a');
    r.proc = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    const deadline = Date.now() + 15_000;
    try {
      for (;;) {
        if (r.proc.exitCode !== null) throw new Error(`docker-registry exited: ${await fs.readFile(logFile, 'utf8')}`);
        if (!r.port) {
          const m = /msg="listening on [^"]*:(\d+)/.exec(await fs.readFile(logFile, 'utf8'));
          if (m) r.port = Number(m[1]);
        }
        if (r.port) {
          // a registry that wants client certificates refuses this probe: its log says it listens
          if (opts.tls?.clientCas?.length) return r;
          const res = await req('GET', `${r.url}/v2/`).catch(() => null);
          if (res && (res.status === 200 || res.status === 401)) return r;
        }
        if (Date.now() > deadline) throw new Error(`docker-registry did not come up: ${await fs.readFile(logFile, 'utf8')}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    } catch (e) {
      await r.stop();
      throw e;
    }
  }

  /** skopeo copy an archive into the registry (as v2s2 with gzip layers, or as OCI). */
  async push(archive: string, repoTag: string, format: 'v2s2' | 'oci' = 'v2s2'): Promise<void> {
    const args = ['copy', '--quiet', '--dest-tls-verify=false', '--format', format];
    if (this.creds) args.push('--dest-creds', `${this.creds.user}:${this.creds.password}`);
    if (this.clientCertDir) args.push('--dest-cert-dir', this.clientCertDir);
    args.push(`docker-archive:${archive}`, `docker://${this.host}/${repoTag}`);
    await execFileP('skopeo', args);
  }

  private authHeader(): Record<string, string> {
    return this.creds ? { Authorization: `Basic ${Buffer.from(`${this.creds.user}:${this.creds.password}`).toString('base64')}` } : {};
  }

  async getManifest(repo: string, ref: string): Promise<{ body: Buffer; digest: string; json: Record<string, unknown> }> {
    const res = await req('GET', `${this.url}/v2/${repo}/manifests/${ref}`, {
      ...this.authHeader(),
      Accept: 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    });
    if (res.status !== 200) throw new Error(`GET manifest ${repo}:${ref}: ${res.status} ${res.body.toString()}`);
    return { body: res.body, digest: sha256(res.body), json: JSON.parse(res.body.toString()) as Record<string, unknown> };
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await req('GET', `${this.url}/v2/${repo}/blobs/${digest}`, this.authHeader());
    if (res.status !== 200) throw new Error(`GET blob ${digest}: ${res.status}`);
    return res.body;
  }

  /** Monolithic blob upload (POST then PUT ?digest=). */
  async pushBlob(repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(data);
    const start = await req('POST', `${this.url}/v2/${repo}/blobs/uploads/`, { ...this.authHeader(), 'Content-Length': '0' });
    if (start.status !== 202) throw new Error(`start upload: ${start.status} ${start.body.toString()}`);
    const loc = new URL(start.headers.location as string, this.url);
    loc.searchParams.set('digest', digest);
    const put = await req('PUT', loc.toString(), { ...this.authHeader(), 'Content-Type': 'application/octet-stream' }, data);
    if (put.status !== 201) throw new Error(`put blob: ${put.status} ${put.body.toString()}`);
    return { digest, size: data.length };
  }

  async putManifest(repo: string, ref: string, body: Buffer | string, mediaType: string): Promise<string> {
    const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const res = await req('PUT', `${this.url}/v2/${repo}/manifests/${ref}`, { ...this.authHeader(), 'Content-Type': mediaType }, b);
    if (res.status !== 201) throw new Error(`put manifest ${repo}:${ref}: ${res.status} ${res.body.toString()}`);
    return sha256(b);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** One request over HTTP or HTTPS (a test registry's certificate is not checked here). */
export async function req(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const secure = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const o = { method, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers, ...(secure ? { rejectUnauthorized: false } : {}) };
    const r = (secure ? https : http).request(url, o, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

export interface ProxyOptions {
  /** Flip one byte in the middle of the bodies of these blob digests. */
  corrupt?: Set<string>;
  /** Send these blobs only up to half, then hang until release(). */
  hold?: Set<string>;
  /** Hold every blob upload (PATCH/PUT under /blobs/uploads/) before forwarding it, until release(). */
  holdUploads?: boolean;
  /** Send these blobs up to half, then drop the connection (once each). */
  cut?: Set<string>;
  /** Require Bearer tokens from the proxy's own /token endpoint (Basic-checked when user is set). */
  bearer?: { service: string; user?: string; password?: string };
  /** Serve the registry under this path prefix ("/cache/k8s": its /v2/ is /cache/k8s/v2/); other paths 404. */
  prefix?: string;
  /** Answer 404 for these blobs, as a mirror that lacks them would. */
  missing?: Set<string>;
}

/** A small HTTP server in front of a registry, for the failure modes a real one won't produce. */
export class TestProxy {
  readonly requests: string[] = [];
  /** Every request as `METHOD /path?query` (an upload's PUT, a mount's ?mount=…&from=…). */
  readonly calls: string[] = [];
  readonly tokenRequests: URLSearchParams[] = [];
  /** Range headers of blob requests, in order ('' when none). */
  readonly ranges: string[] = [];
  readonly held = new Map<string, number>();
  private server!: http.Server;
  private readonly tokens = new Map<string, string[]>();
  private releaseHeld: Array<() => void> = [];
  port = 0;

  constructor(readonly upstream: string, readonly opts: ProxyOptions = {}) {}

  get host(): string { return `127.0.0.1:${this.port}`; }

  async start(): Promise<this> {
    this.server = http.createServer((rq, rs) => { void this.handle(rq, rs).catch(() => rs.destroy()); });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Uploads held so far (holdUploads), and those of them the client broke off while held. */
  heldUploads = 0;
  abortedUploads = 0;

  /** Let held blobs and uploads finish (and stop holding new ones). */
  release(): void {
    this.opts.hold?.clear();
    this.opts.holdUploads = false;
    for (const r of this.releaseHeld.splice(0)) r();
  }

  blobGets(digest: string): number {
    return this.requests.filter((r) => r === `GET /blobs/${digest}`).length;
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(rq: http.IncomingMessage, rs: http.ServerResponse): Promise<void> {
    let target = rq.url ?? '/';
    if (new URL(target, `http://${this.host}`).pathname === '/token') return this.token(new URL(target, `http://${this.host}`), rq, rs);
    const prefix = this.opts.prefix;
    if (prefix) {
      if (!target.startsWith(`${prefix}/`)) {
        this.requests.push(`${rq.method} outside ${prefix}: ${target}`);
        rs.writeHead(404, { 'Content-Type': 'text/plain' });
        rs.end('404 page not found');
        return;
      }
      target = target.slice(prefix.length);
    }
    const url = new URL(target, `http://${this.host}`);
    this.calls.push(`${rq.method} ${url.pathname}${url.search}`);
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
    this.requests.push(blob ? `${rq.method} /blobs/${blob}` : `${rq.method} ${url.pathname}`);
    if (blob) this.ranges.push(rq.headers.range ?? '');
    const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    // a cross-repository mount reads its source: the token must allow that too
    const from = url.searchParams.get('mount') ? url.searchParams.get('from') ?? undefined : undefined;
    if (this.opts.bearer && (!this.authorized(rq, repo) || (from && !this.authorized(rq, from)))) {
      const scope = repo ? `,scope="repository:${repo}:pull"` : '';
      rs.writeHead(401, {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="http://${this.host}/token",service="${this.opts.bearer.service}"${scope}`,
      });
      rs.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (blob && this.opts.missing?.has(blob)) {
      rs.writeHead(404, { 'Content-Type': 'application/json' });
      rs.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: blob }] }));
      return;
    }
    let held: Buffer | undefined;
    if (this.opts.holdUploads && /\/blobs\/uploads\/./.test(url.pathname) && (rq.method === 'PATCH' || rq.method === 'PUT')) {
      this.heldUploads++;
      // the body is read meanwhile (a paused socket would not see the client hang up)
      const chunks: Buffer[] = [];
      rq.on('data', (c: Buffer) => chunks.push(c));
      const read = new Promise<void>((r) => rq.once('end', r));
      const gone = new Promise<boolean>((r) => rs.once('close', () => r(true)));
      if (await Promise.race([new Promise<false>((r) => this.releaseHeld.push(() => r(false))), gone])) {
        this.abortedUploads++; // the client broke off the upload it was sending
        return;
      }
      await read;
      held = Buffer.concat(chunks);
    }
    const up = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const headers = { ...rq.headers, host: this.upstream };
      delete headers.authorization;
      const r = http.request(`http://${this.upstream}${target}`, { method: rq.method, headers }, resolve);
      r.on('error', reject);
      if (held) r.end(held); else rq.pipe(r);
    });
    // an upload's Location names the registry's own address: the next request comes here too
    if (typeof up.headers.location === 'string') up.headers.location = up.headers.location.replace(`//${this.upstream}/`, `//${this.host}/`);
    rs.writeHead(up.statusCode ?? 502, up.headers);
    if (!blob || (!this.opts.corrupt?.has(blob) && !this.opts.hold?.has(blob) && !this.opts.cut?.has(blob))) {
      up.pipe(rs);
      return;
    }
    const data = await new Promise<Buffer>((resolve) => { const c: Buffer[] = []; up.on('data', (d: Buffer) => c.push(d)); up.on('end', () => resolve(Buffer.concat(c))); });
    const mid = Math.floor(data.length / 2);
    if (this.opts.corrupt?.has(blob)) {
      data[mid] = data[mid]! ^ 0xff;
      rs.end(data);
      return;
    }
    rs.write(data.subarray(0, mid));
    if (this.opts.cut?.delete(blob)) {
      await new Promise((r) => setTimeout(r, 50));
      rs.socket?.destroy();
      return;
    }
    this.held.set(blob, mid);
    await new Promise<void>((r) => this.releaseHeld.push(r));
    if (!rs.destroyed) rs.end(data.subarray(mid));
  }

  private authorized(rq: http.IncomingMessage, repo: string | undefined): boolean {
    const m = /^Bearer (.+)$/.exec(rq.headers.authorization ?? '');
    const scopes = m ? this.tokens.get(m[1]!) : undefined;
    if (!scopes) return false;
    // "repository:NAME:pull" or "repository:NAME:pull,push": pull is enough to pass here
    return !repo || scopes.some((sc) => sc.split(' ').some((one) => one.startsWith(`repository:${repo}:`) && one.slice(`repository:${repo}:`.length).split(',').includes('pull')));
  }

  private token(url: URL, rq: http.IncomingMessage, rs: http.ServerResponse): void {
    this.tokenRequests.push(url.searchParams);
    const b = this.opts.bearer;
    const want = b?.user ? `Basic ${Buffer.from(`${b.user}:${b.password}`).toString('base64')}` : undefined;
    if (want && rq.headers.authorization !== want) {
      rs.writeHead(401, { 'Content-Type': 'application/json' });
      rs.end(JSON.stringify({ details: 'incorrect username or password' }));
      return;
    }
    if (b && url.searchParams.get('service') !== b.service) {
      rs.writeHead(400);
      rs.end('wrong service');
      return;
    }
    const t = randomBytes(16).toString('hex');
    this.tokens.set(t, url.searchParams.getAll('scope'));
    rs.writeHead(200, { 'Content-Type': 'application/json' });
    rs.end(JSON.stringify({ token: t, expires_in: 300, issued_at: new Date().toISOString() }));
  }
}
