// Certificates for TLS tests, made with the openssl CLI: a private CA, and server or client
// certificates it signs (EC P-256 keys: quick to make). Everything lives under the dir given.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface Ca { cert: string; key: string; name: string }
export interface Issued { cert: string; key: string }

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA: <dir>/<name>.crt and .key. */
export async function makeCa(dir: string, name: string): Promise<Ca> {
  await fs.mkdir(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await execFileP('openssl', ['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key, name };
}

/** A certificate signed by ca: for a server (its IP addresses and names) or a client. */
export async function issue(ca: Ca, dir: string, name: string, o: { server?: { ips?: string[]; dns?: string[] }; client?: boolean }): Promise<Issued> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await execFileP('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  const lines = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature'];
  if (o.server) {
    const san = [...(o.server.ips ?? []).map((i) => `IP:${i}`), ...(o.server.dns ?? []).map((d) => `DNS:${d}`)];
    lines.push('extendedKeyUsage=serverAuth', `subjectAltName=${san.join(',')}`);
  }
  if (o.client) lines.push('extendedKeyUsage=clientAuth');
  await fs.writeFile(ext, `${lines.join('\n')}\n`);
  await execFileP('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}
