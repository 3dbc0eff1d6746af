// The CA roots an HTTPS registry is verified against: node's own, and the PEM file
// NODE_EXTRA_CA_CERTS names, as node trusts them. bin/tsulad defers that file (node would
// parse it at start-up, ~1.8 MB kept for a whole bundle, though most daemons never dial a
// registry over TLS: src/common/v8-flags.ts), so it is read here on the first verified dial.
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { EXTRA_CA_CERTS_DEFERRED } from '../../common/v8-flags.js';

let deferred: string[] | null | undefined;

/** The PEM text of the deferred NODE_EXTRA_CA_CERTS; null when there is none (node then has any itself). */
function deferredRoots(): string[] | null {
  if (deferred !== undefined) return deferred;
  const file = process.env[EXTRA_CA_CERTS_DEFERRED];
  deferred = null;
  if (file) {
    try {
      deferred = [readFileSync(file, 'utf8')];
    } catch (e) {
      // what node does with a file it cannot read: warn, and trust its own roots
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    }
  }
  return deferred;
}

/**
 * A TLS context trusting node's roots and the deferred extra ones, plus `ca` and a client
 * certificate; undefined when node's default context is exactly that (no extras at all).
 * Made once per agent: a `ca` option instead would parse every root again on each dial.
 */
export function registrySecureContext(o: { ca?: string[]; cert?: Buffer; key?: Buffer } = {}): tls.SecureContext | undefined {
  const extra = deferredRoots();
  if (!extra && !o.ca?.length && !o.cert) return undefined;
  const ca = extra || o.ca?.length ? [...tls.rootCertificates, ...(extra ?? []), ...(o.ca ?? [])] : undefined;
  return tls.createSecureContext({ ca, cert: o.cert, key: o.key });
}
