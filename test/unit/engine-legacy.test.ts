// Records older tsulas wrote (inspect-shaped config.v2.json) load into the typed model and
// show the same through the Docker view; the next write is container.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContainerStore } from '../../src/engine/containers/store.js';
import { inspectView } from '../../src/engine/api/docker-model.js';

const ID = 'c'.repeat(64);
const OLD = {
  Id: ID, Created: '2026-11-30T10:00:00.000Z', Path: 'sh', Args: ['-c', 'exit 3'],
  State: { Status: 'exited', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 3, Error: '', StartedAt: '2026-11-30T10:00:01.000Z', FinishedAt: '2026-11-30T10:00:02.000Z' },
  Image: 'sha256:' + 'a'.repeat(64), ResolvConfPath: '/g/c/resolv.conf', HostnamePath: '/g/c/hostname', HostsPath: '/g/c/hosts', LogPath: '/g/c/container.log',
  Name: '/old-one', RestartCount: 2, Driver: 'overlay', Platform: 'linux',
  Config: { Hostname: 'cccccccccccc', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: ['PATH=/bin'], Cmd: ['sh', '-c', 'exit 3'], Image: 'busybox', Volumes: null, WorkingDir: '', Entrypoint: null, Labels: { a: 'b' } },
  HostConfig: { Binds: ['/tmp:/data:ro'], NetworkMode: 'none', AutoRemove: false, Runtime: 'runc', ReadonlyRootfs: false, Memory: 67108864, NanoCpus: 0, PidsLimit: null,
    Ulimits: null, Annotations: null, Privileged: false, CapAdd: ['NET_ADMIN'], CapDrop: null, SecurityOpt: null },
  Mounts: [{ Type: 'bind', Source: '/tmp', Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate' }],
  GraphDriver: { Name: 'overlay', Data: null },
};

test('an inspect-shaped record of an older tsula loads; inspect shows what it showed; the next write is container.json', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-legacy-'));
  try {
    await fs.mkdir(path.join(dir, ID));
    await fs.writeFile(path.join(dir, ID, 'config.v2.json'), JSON.stringify(OLD));
    const store = new ContainerStore(dir);
    const [c] = await store.load(() => assert.fail('the record is readable'));
    assert.equal(c!.name, 'old-one');
    assert.deepEqual([c!.state.status, c!.state.exitCode, c!.state.restartCount], ['exited', 3, 2]);
    assert.equal(c!.config.resources.Memory, 67108864);
    const v = inspectView(c!);
    assert.deepEqual([v.Name, v.Path, v.Args, v.State.ExitCode, v.State.FinishedAt], ['/old-one', 'sh', ['-c', 'exit 3'], 3, '2026-11-30T10:00:02.000Z']);
    assert.deepEqual(v.HostConfig.Binds, ['/tmp:/data:ro']);
    assert.deepEqual(v.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(v.Mounts, OLD.Mounts);
    assert.deepEqual(v.Config.Labels, { a: 'b' });
    await store.save(c!);
    const now = JSON.parse(await fs.readFile(path.join(dir, ID, 'container.json'), 'utf8')) as { name: string };
    assert.equal(now.name, 'old-one');
    const again = new ContainerStore(dir);
    assert.equal((await again.load(() => assert.fail('readable')))[0]!.state.exitCode, 3, 'container.json wins over the old file');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
