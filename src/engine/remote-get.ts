// A GET of a URL as dockerd makes it for `docker import` and a Dockerfile's `ADD <url>`
// (Go's http.Get: up to 10 redirects; https verified with the roots the registry client
// trusts), with dockerd's error for an answer that is an error status.
import type { IncomingMessage } from 'node:http';
import { internal, invalidArgument, notFound, permissionDenied, unauthenticated } from '../common/errors.js';
import { goDialError } from '../common/go-errno.js';

/**
 * GET `url` as dockerd's import does (Go's http.Get: up to 10 redirects; https verified with
 * the roots the registry client trusts). The answer's body, or the error dockerd would give.
 */
export async function httpGet(address: URL): Promise<IncomingMessage> {
  let url = address;
  for (let hop = 0; hop <= 10; hop++) {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      // Go's http.Get words for a failed dial ("dial tcp: lookup H: no such host")
      const failed = (e: Error) => reject(internal(`Get "${url}": ${goDialError(e, url) ?? e.message}`, e));
      // tsulad's HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as dockerd's (common/proxy.ts)
      void import('../common/proxy.js').then(async (px) => {
        const proxy = px.proxyFor(url);
        if (url.protocol === 'https:') {
          const [https, trust] = await Promise.all([import('node:https'), import('../image/registry/trust.js')]);
          // one request: an agent of its own, with the registry client's trust
          const direct = new https.Agent({ secureContext: trust.registrySecureContext() });
          https.get(url, { agent: proxy ? px.tunnelingAgent(proxy, direct) : direct }, resolve).on('error', failed);
        } else {
          const http = await import('node:http');
          (proxy ? (proxy.protocol === 'https:' ? await import('node:https') : http).get(px.viaHttpProxy(url, proxy), resolve) : http.get(url, resolve)).on('error', failed);
        }
      }).catch(failed);
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status >= 400) {
      // dockerd's GetWithStatusError: the address asked for, the status, the answer's text
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res as AsyncIterable<Buffer>) if ((size += c.length) <= 4096) chunks.push(c);
      const msg = `failed to GET ${address.href} with status ${status} ${res.statusMessage ?? ''}: ${Buffer.concat(chunks).toString('utf8').trim()}`;
      const kind = { 400: invalidArgument, 401: unauthenticated, 403: permissionDenied, 404: notFound }[status];
      throw kind ? kind(msg) : internal(msg);
    }
    return res;
  }
  throw internal(`Get "${url}": stopped after 10 redirects`);
}

