// /networks/* of the Docker-shaped API (docker network ls/inspect/create/rm/connect/
// disconnect/prune) over the engine's network service.
import type * as z from 'zod';
import type { Router } from './http.js';
import { readJsonBody, sendJson, sendStatus } from './http.js';
import { invalidArgument, notFound } from '../../common/errors.js';
import { lazySchema, type LazySchema } from '../../common/lazy-schema.js';
import { checkFilterKeys, parseFilters } from '../filters.js';
import type { NetworkHooks, NetworkService } from '../networks/index.js';
import { networkInspectFor, networkSummaryFor } from './network-views.js';
import { versionAtLeast } from './version.js';
import { endpointSysctls, ipv4Address, ipv6Address, linkLocalIps } from './docker-runopts.js';

const connectSchema = lazySchema((z) => z.object({
  Container: z.string().min(1, 'a container is required'),
  EndpointConfig: z.object({
    IPAMConfig: z.object({ IPv4Address: z.string().nullish(), IPv6Address: z.string().nullish(), LinkLocalIPs: z.array(z.string()).nullish() }).passthrough().nullish(),
    Links: z.array(z.string()).nullish(),
    Aliases: z.array(z.string()).nullish(),
    MacAddress: z.string().nullish(),
    DriverOpts: z.record(z.string(), z.string()).nullish(),
    GwPriority: z.number().int().nullish(),
  }).passthrough().nullish(),
}).passthrough());

const disconnectSchema = lazySchema((z) => z.object({ Container: z.string().min(1, 'a container is required'), Force: z.boolean().nullish() }).passthrough());

async function parse<T>(schema: LazySchema<z.ZodType<T>>, body: unknown, what: string): Promise<T> {
  const p = (await schema()).safeParse(body);
  if (!p.success) throw invalidArgument(`invalid ${what}: ${p.error.issues[0]!.path.join('.') || 'body'}: ${p.error.issues[0]!.message}`);
  return p.data;
}

export function networkRoutes(r: Router, nets: NetworkService, hooks: NetworkHooks): void {
  const list: Parameters<Router['add']>[2] = async ({ res, query, version }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']);
    sendJson(res!, 200, nets.list(f).map((n) => networkSummaryFor(version, n, nets.endpoints(n.id))));
  };
  r.add('GET', '/networks', list);
  r.add('GET', '/networks/', list); // dockerd routes both (moby's TestNetworkList)

  r.add('GET', '/networks/{id}', async ({ res, params, version, query }) => {
    const n = nets.get(params[0]!);
    // every network here is local: one asked for in the swarm's or global scope is not found
    const scope = query.get('scope');
    if (scope && scope !== 'local') throw notFound(`network ${params[0]} not found`);
    sendJson(res!, 200, networkInspectFor(version, n, nets.endpoints(n.id)));
  });

  r.add('POST', '/networks/create', async ({ req, res, version }) => {
    const body = await readJsonBody(req, { checkType: true });
    if (body && typeof body === 'object' && 'EnableIPv4' in body) {
      const b = body as { EnableIPv4?: unknown };
      // dockerd: unknown before 1.48; false needs its experimental features, which tsulad lacks
      if (!versionAtLeast(version, '1.48')) delete b.EnableIPv4;
      else if (b.EnableIPv4 === false) throw invalidArgument('IPv4 can only be disabled if experimental features are enabled');
    }
    sendJson(res!, 201, await nets.create(body));
  });

  r.add('POST', '/networks/prune', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['until', 'label', 'label!']);
    sendJson(res!, 200, await nets.prune(f));
  });

  r.add('DELETE', '/networks/{id}', async ({ res, params }) => {
    await nets.remove(params[0]!);
    sendStatus(res!, 204);
  });

  r.add('POST', '/networks/{id}/connect', async ({ req, res, params, version }) => {
    const b = await parse(connectSchema, await readJsonBody(req, { checkType: true }), 'network connect request');
    const ep = b.EndpointConfig ?? {};
    const ll = linkLocalIps(ep.IPAMConfig?.LinkLocalIPs);
    // 1.44 added MacAddress here, but dockerd (until 1.54) takes it without applying it
    if (ep.MacAddress && !versionAtLeast(version, '1.42')) throw invalidArgument('--mac-address is not supported by tsulad');
    // 1.46: the interface's sysctls are the one driver option taken
    if (Object.keys(ep.DriverOpts ?? {}).length && !versionAtLeast(version, '1.42')) throw invalidArgument('--driver-opt is not supported by tsulad');
    const sysctls = endpointSysctls(ep.DriverOpts);
    const gwPriority = versionAtLeast(version, '1.48') ? ep.GwPriority ?? 0 : 0;
    await hooks.connect(params[0]!, b.Container, {
      aliases: ep.Aliases ?? [], links: ep.Links ?? [], ...ipv4Address(ep.IPAMConfig?.IPv4Address),
      ...ipv6Address(ep.IPAMConfig?.IPv6Address), ...(ll.length ? { linkLocalIps: ll } : {}),
      ...(gwPriority ? { gwPriority } : {}), ...(sysctls.length ? { sysctls } : {}),
    });
    sendStatus(res!, 200);
  });

  r.add('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const b = await parse(disconnectSchema, await readJsonBody(req, { checkType: true }), 'network disconnect request');
    await hooks.disconnect(params[0]!, b.Container, !!b.Force);
    sendStatus(res!, 200);
  });
}
