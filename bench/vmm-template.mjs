// VM templates (vmm.toml enable_template = true), run as `node bench/vmm.mjs --template
// [--boots N]` (root; after npm run build; guest assets in TSULA_GUEST_DIR). In one run,
// through the vmm sandbox kind in this process (no container: a pod is ready when its agent
// has answered and the pod's share, hostname, clock and RNG are set up):
//  1. the template's build time (boot to "agent ready", pause, save);
//  2. pod-ready time, median of --boots: restored from the template vs taken from the VM cache
//     (vm_cache_number = 1: a clone restored ahead; the cache is full before each such pod) vs a
//     normal boot (agent from its V8 snapshot) vs the bare qemu boot of the same guest
//     (bench/lib/bare-boot.mjs);
//  3. RSS/PSS per qemu with 1 and 3 pods: booted; from the template with virtio-fs (each
//     clone's RAM is its own copy of the template's pages in use, in QEMU's memfd: virtiofsd
//     must see it); from the template without
//     a share (shared_fs = "none": the clones map the template's RAM copy-on-write).
// Every qemu/virtiofsd it starts names its temp dir; they and the dir go at the end.
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bareBooter, BARE_MARKERS } from './lib/bare-boot.mjs';
import { mem, procs } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist/src');
const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';

export async function templateBench({ boots, tbSize }) {
  const { VmmSandboxKind } = await import(path.join(DIST, 'sandboxer/kinds/vmm/index.js'));
  const { detectAccel, loadVmmConfig } = await import(path.join(DIST, 'hypervisor/index.js'));
  const { warmAgentSnapshot } = await import(path.join(DIST, 'sandboxer/kinds/vmm/warmup.js'));
  const dir = await fs.mkdtemp('/tmp/tvtb-');
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  const mb = (kb) => (kb / 1024).toFixed(1);
  const cleanup = () => {
    for (const p of procs()) if (p.pid !== process.pid && p.argv.join(' ').includes(dir)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* busy */ }
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { console.error(`\n${sig}: cleaning up`); process.exit(130); });
  const kinds = [];
  const running = new Map();
  try {
    const accel = await detectAccel();
    const toml = path.join(dir, 'vmm.toml');
    await fs.writeFile(toml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 300\n${tbSize ? `tcg_tb_size = ${Number(tbSize)}\n` : ''}`);
    const base = (await loadVmmConfig(toml)).hypervisors.qemu;
    const warm = await warmAgentSnapshot({ vmmConfig: toml });
    console.log(`accelerator: ${accel.accel} (${accel.reason}); guest ${GUEST}, ${base.defaultMemory} MiB, ${base.defaultVcpus} vCPU, ${base.machineType}; host ${os.cpus().length} CPUs`);
    console.log('off' in warm ? `agent snapshot: off` : `agent snapshot ${warm.result.key}: ${warm.result.outcome}`);
    const cfgs = new Map();
    const kindOf = (over) => {
      const cfg = { ...base, templatePath: path.join(dir, 'templates'), ...over };
      const k = new VmmSandboxKind({ stateDir: path.join(dir, `k${kinds.length}`), accel, config: { default: 'qemu', hypervisors: { qemu: cfg } } });
      kinds.push(k);
      cfgs.set(k, cfg);
      return k;
    };
    const booted = kindOf({});
    const cloned = kindOf({ enableTemplate: true });
    const clonedNoFs = kindOf({ enableTemplate: true, sharedFs: 'none' });
    const cachedKind = kindOf({ enableTemplate: true, vmCacheNumber: 1 });
    let n = 0;
    const start = async (kind) => {
      const sb = { id: `b${++n}`, kind: 'vmm', createdAt: new Date().toISOString(), netnsPath: '', annotations: { 'io.tsula.hostname': `pod-${n}` }, state: 'created', pid: 0, kindState: {} };
      const t0 = now();
      const st = await kind.start(sb, path.join(dir, 'sandboxes'));
      Object.assign(sb, { pid: st.pid, kindState: st.kindState, state: 'ready' });
      running.set(sb.id, [kind, sb]);
      return { sb, ms: now() - t0, readyMs: st.kindState.readyMs, template: st.kindState.template };
    };
    const stop = async (sb) => { const [k] = running.get(sb.id); await k.stop(sb, 5); running.delete(sb.id); };

    // 1. the template
    const t0 = now();
    const tpl = await cloned.templates.build(cfgs.get(cloned), accel, true);
    const buildMs = now() - t0;
    const ramKb = Number(spawnSync('du', ['-k', tpl.ram], { encoding: 'utf8' }).stdout.split('\t')[0]);
    console.log(`\ntemplate: built in ${(buildMs / 1000).toFixed(1)} s (boot to agent ready, pause, save); RAM file ${mb(ramKb)} MB used of ${base.defaultMemory} MiB, device state ${(readFileSync(tpl.state).length / 1024).toFixed(0)} KB`);

    // 2. pod-ready times, interleaved
    const bare = await bareBooter({ dir, hvConfig: base, accel: accel.accel });
    const runs = { clone: [], cached: [], boot: [], bare: [], cloneReady: [], bootReady: [] };
    const timings = [];
    const claims = [];
    for (let i = 0; i < boots; i++) {
      const c = await start(cloned);
      if (!c.template) throw new Error('the pod was not restored from the template (see the warnings above)');
      runs.clone.push(c.ms); runs.cloneReady.push(c.readyMs); timings.push(c.template);
      await stop(c.sb);
      // a full cache (its refill after the last pod done), then the pod that takes the clone
      cachedKind.cache.fill(cfgs.get(cachedKind), accel, tpl);
      await cachedKind.cache.idle();
      const k = await start(cachedKind);
      if (!k.template?.cached) throw new Error('the pod was not taken from the VM cache (see the warnings above)');
      runs.cached.push(k.ms); claims.push(k.template);
      await stop(k.sb);
      await cachedKind.cache.idle();
      const b = await start(booted);
      runs.boot.push(b.ms); runs.bootReady.push(b.readyMs);
      await stop(b.sb);
      const r = await bare.boot(`bare${i}`, 'bench-bare', BARE_MARKERS);
      runs.bare.push(r['BARE-READY']);
      console.log(`  run ${i + 1}: from template ${c.ms.toFixed(0)} ms, from the VM cache ${k.ms.toFixed(0)} ms, booted ${b.ms.toFixed(0)} ms, bare boot ${r['BARE-READY'].toFixed(0)} ms`);
    }
    const m = (k) => median(runs[k]);
    console.log(`\npod ready (kind.start: shared dir, virtiofsd, VM, agent; median of ${boots})`);
    console.log(`  from the template: ${m('clone').toFixed(0)} ms (qemu spawn -> ready ${m('cloneReady').toFixed(0)} ms: restore ${median(timings.map((t) => t.restoreMs)).toFixed(0)}, ` +
      `hot-plug ${median(timings.map((t) => t.hotplugMs)).toFixed(0)}, CloneSetup ${median(timings.map((t) => t.setupMs)).toFixed(0)})`);
    console.log(`  from the VM cache: ${m('cached').toFixed(0)} ms (the pod's part: CloneSetup ${median(claims.map((t) => t.setupMs)).toFixed(0)}; the clone's restore, done ahead, ${median(claims.map((t) => t.restoreMs)).toFixed(0)})`);
    console.log(`  booted:            ${m('boot').toFixed(0)} ms (qemu spawn -> agent ${m('bootReady').toFixed(0)} ms)`);
    console.log(`  bare qemu boot:    ${m('bare').toFixed(0)} ms (spawn -> /bench-init prints)`);
    console.log(`  template/bare ${(m('clone') / m('bare')).toFixed(2)}x, template/booted ${(m('clone') / m('boot')).toFixed(2)}x; VM cache/bare ${(m('cached') / m('bare')).toFixed(2)}x`);

    // 3. memory per qemu with 1 and 3 pods
    console.log(`\nmemory per qemu (MB, after 3 s idle; RSS includes the template pages a clone maps)`);
    console.log(`${'pods'.padEnd(34)}${'RSS'.padStart(9)}${'PSS'.padStart(9)}`);
    for (const [label, kind] of [['booted', booted], ['template, virtio-fs (RAM copied)', cloned], ['template, no share (RAM shared)', clonedNoFs]]) {
      const pods = [];
      for (const count of [1, 3]) {
        while (pods.length < count) pods.push((await start(kind)).sb);
        await sleep(3000);
        const xs = pods.map((sb) => mem(sb.pid));
        console.log(`${`${label}, ${count}`.padEnd(34)}${mb(xs.reduce((a, x) => a + x.rss, 0) / xs.length).padStart(9)}${mb(xs.reduce((a, x) => a + x.pss, 0) / xs.length).padStart(9)}`);
      }
      for (const sb of pods) await stop(sb);
    }
  } finally {
    for (const [, [k, sb]] of running) await k.stop(sb, 2).catch(() => {});
    for (const k of kinds) await k.close().catch(() => {});
    cleanup();
  }
}
