import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noProxy, proxyFor } from '../../src/common/proxy.js';

test('proxyFor: HTTPS_PROXY for https, HTTP_PROXY for http (upper case first, a bare host:port is http://); loopback and localhost never proxied', () => {
  const env = { HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://u:p@old:8080', HTTP_PROXY: 'http://new:8080' };
  assert.equal(proxyFor(new URL('https://registry.example.com/v2/'), env)?.href, 'http://proxy.corp:3128/');
  assert.equal(proxyFor(new URL('http://registry.example.com/v2/'), env)?.href, 'http://new:8080/');
  assert.equal(proxyFor(new URL('https://127.0.0.1:5000/v2/'), env), null);
  assert.equal(proxyFor(new URL('https://[::1]:5000/v2/'), env), null);
  assert.equal(proxyFor(new URL('https://localhost:5000/v2/'), env), null);
  assert.equal(proxyFor(new URL('https://registry.example.com/'), {}), null);
  assert.throws(() => proxyFor(new URL('https://r.example.com/'), { HTTPS_PROXY: 'socks5://s:1080' }), /only http and https proxies/);
});

test('NO_PROXY as Go\'s httpproxy: *, hosts with their subdomains, .domain for subdomains only, IPs, CIDRs, ports', () => {
  const cases: Array<[string, string, string, boolean]> = [
    ['r.example.com', '443', '*', true],
    ['example.com', '443', 'example.com', true],
    ['r.example.com', '443', 'example.com', true],
    ['badexample.com', '443', 'example.com', false],
    ['example.com', '443', '.example.com', false],
    ['r.example.com', '443', '.example.com', true],
    ['r.example.com', '443', '*.example.com', true],
    ['10.1.2.3', '443', '10.0.0.0/8', true],
    ['11.1.2.3', '443', '10.0.0.0/8', false],
    ['10.1.2.3', '443', '10.1.2.3', true],
    ['r.example.com', '5000', 'r.example.com:5000', true],
    ['r.example.com', '443', 'r.example.com:5000', false],
    ['fd00::5', '443', 'fd00::/8', true],
    ['r.example.com', '443', ' other.com , R.Example.com ', true],
    ['r.example.com', '443', '', false],
  ];
  for (const [host, port, list, want] of cases) assert.equal(noProxy(host, port, list), want, `${host}:${port} in ${JSON.stringify(list)}`);
});
