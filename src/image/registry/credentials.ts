// The CLI's credential file, in docker's config.json shape:
//   { "auths": { "127.0.0.1:5000": { "auth": base64("user:pass") }, "https://index.docker.io/v1/": {…} } }
// at $TSULA_CONFIG or ~/.tsula/config.json, owner-only (dir 0700, file 0600), written
// atomically. Keys are registry hosts; Docker Hub is keyed by docker's index address.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/fsutil.js';
import { DEFAULT_DOMAIN } from '../reference.js';
import type { AuthConfig } from './auth.js';

export const INDEX_SERVER = 'https://index.docker.io/v1/';

export function configPath(): string {
  return process.env.TSULA_CONFIG || path.join(os.homedir(), '.tsula', 'config.json');
}

interface ConfigFile { auths?: Record<string, { auth?: string; identitytoken?: string }>; [k: string]: unknown }

/**
 * The key a registry is stored under: docker's index address for Docker Hub, otherwise
 * the host[:port] without scheme or path ("http://127.0.0.1:5000/" -> "127.0.0.1:5000").
 */
export function registryKey(server: string | undefined): string {
  const s = (server ?? '').trim();
  if (!s) return INDEX_SERVER;
  const host = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '');
  if (host === DEFAULT_DOMAIN || host === 'index.docker.io' || host === 'registry-1.docker.io') return INDEX_SERVER;
  return host;
}

/** The registry host that the daemon should talk to for a key (the reverse of registryKey). */
export function registryHost(key: string): string {
  return key === INDEX_SERVER ? DEFAULT_DOMAIN : key;
}

async function readConfig(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as ConfigFile;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}): fix or remove it`);
  }
}

/** Stored credentials for a registry (a host, or a reference's domain); undefined when none. */
export async function getCredentials(server: string, file = configPath()): Promise<AuthConfig | undefined> {
  const cfg = await readConfig(file).catch(() => ({} as ConfigFile));
  const key = registryKey(server);
  const auths = cfg.auths ?? {};
  // docker also finds entries written with a scheme ("https://host") by older clients.
  const entry = auths[key] ?? auths[`https://${key}`] ?? auths[`http://${key}`];
  if (!entry) return undefined;
  const out: AuthConfig = { serveraddress: key };
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon >= 0) { out.username = plain.slice(0, colon); out.password = plain.slice(colon + 1); }
  }
  if (entry.identitytoken) out.identitytoken = entry.identitytoken;
  return out.username !== undefined || out.identitytoken ? out : undefined;
}

export async function saveCredentials(server: string, creds: { username: string; password: string; identitytoken?: string }, file = configPath()): Promise<void> {
  const cfg = await readConfig(file);
  const key = registryKey(server);
  cfg.auths = { ...(cfg.auths ?? {}) };
  const entry: { auth?: string; identitytoken?: string } = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  if (creds.identitytoken) entry.identitytoken = creds.identitytoken;
  cfg.auths[key] = entry;
  await writeConfig(file, cfg);
}

/** Returns false when there was nothing stored for the registry. */
export async function removeCredentials(server: string, file = configPath()): Promise<boolean> {
  const cfg = await readConfig(file);
  const key = registryKey(server);
  const auths = { ...(cfg.auths ?? {}) };
  const keys = [key, `https://${key}`, `http://${key}`].filter((k) => k in auths);
  if (!keys.length) return false;
  for (const k of keys) delete auths[k];
  cfg.auths = auths;
  await writeConfig(file, cfg);
  return true;
}

async function writeConfig(file: string, cfg: ConfigFile): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(cfg, null, '\t') + '\n', 0o600);
  // writeFileAtomic creates with 0600, but a umask or an older file must not widen it.
  await fs.chmod(file, 0o600);
}
