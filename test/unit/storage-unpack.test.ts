// Layer tar extraction: fidelity, special files, whiteouts in both modes, root entries and
// absolute names as docker reads them, and refusal of every way a tar entry can try to leave
// the rootfs. Runs as root (owners, mknod, trusted.*).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { unpackLayer, type UnpackMode } from '../../src/storage/unpack.js';
import { buildTar, type TarWriteEntry } from '../../src/storage/tarwrite.js';
import { TsulaError } from '../../src/common/errors.js';

let base = '';
let n = 0;

/** Feed the tar in odd-sized chunks so header and body boundaries fall everywhere. */
function chunked(buf: Buffer): Readable {
  const parts: Buffer[] = [];
  const sizes = [7, 500, 513, 1, 4096, 100];
  for (let off = 0, i = 0; off < buf.length; i++) {
    const k = sizes[i % sizes.length];
    parts.push(buf.subarray(off, off + k));
    off += k;
  }
  return Readable.from(parts);
}

/** A fresh rootfs dir inside its own sandbox dir, so escapes would be visible next to it. */
async function freshRoot(): Promise<{ sandbox: string; root: string }> {
  const sandbox = path.join(base, `case${n++}`);
  const root = path.join(sandbox, 'root');
  await fs.mkdir(root, { recursive: true });
  return { sandbox, root };
}

async function unpack(entries: TarWriteEntry[] | Buffer, root: string, mode: UnpackMode = 'overlay') {
  const tar = Buffer.isBuffer(entries) ? entries : buildTar(entries);
  return unpackLayer(chunked(tar), root, { mode });
}

function getfattr(p: string, name: string): string | null {
  try {
    const out = execFileSync('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, p], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return out.split('\n').find((l) => l.startsWith(name + '='))?.slice(name.length + 1) ?? null;
  } catch { return null; }
}

async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = e.name;
    out.push(rel);
    if (e.isDirectory()) for (const c of await listAll(path.join(dir, rel))) out.push(`${rel}/${c}`);
  }
  return out.sort();
}

before(async () => { base = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-unpack-')); });
after(async () => { await fs.rm(base, { recursive: true, force: true }); });

describe('unpackLayer: fidelity', () => {
  it('restores files, dirs, symlinks, hard links with modes, owners and mtimes', async () => {
    const { root } = await freshRoot();
    const long = `deep/${'n'.repeat(120)}/${'f'.repeat(140)}`;
    const res = await unpack([
      { name: './', type: 'dir', mode: 0o755, mtime: 1_000_000_000 },
      { name: 'etc/', type: 'dir', mode: 0o750, uid: 3, gid: 4, mtime: 1_100_000_000 },
      { name: 'etc/passwd', data: 'root:x:0:0\n', mode: 0o644, uid: 0, gid: 0, mtime: 1_200_000_000 },
      { name: 'bin/', type: 'dir', mode: 0o555, mtime: 1_300_000_000 },
      { name: 'bin/su', data: Buffer.alloc(70_000, 7), mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_400_000_000 },
      { name: 'bin/su2', type: 'link', linkname: 'bin/su' },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 5, gid: 6, mtime: 1_500_000_000 },
      { name: long, data: 'long', mode: 0o600 },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
    ], root);
    assert.equal(res.size, 11 + 70_000 + 4);
    const etc = await fs.lstat(path.join(root, 'etc'));
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.uid, 3); assert.equal(etc.gid, 4);
    assert.equal(etc.mtimeMs, 1_100_000_000_000, 'dir mtime survives writing its children');
    assert.equal(await fs.readFile(path.join(root, 'etc/passwd'), 'utf8'), 'root:x:0:0\n');
    const su = await fs.lstat(path.join(root, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755, 'setuid kept (chown before chmod)');
    assert.equal(su.uid, 1000); assert.equal(su.gid, 1001); assert.equal(su.size, 70_000);
    assert.equal(su.mtimeMs, 1_400_000_000_000);
    assert.equal(su.nlink, 2);
    assert.equal((await fs.lstat(path.join(root, 'bin/su2'))).ino, su.ino);
    const sh = await fs.lstat(path.join(root, 'bin/sh'));
    assert.ok(sh.isSymbolicLink());
    assert.equal(await fs.readlink(path.join(root, 'bin/sh')), '/bin/busybox');
    assert.equal(sh.uid, 5); assert.equal(sh.mtimeMs, 1_500_000_000_000);
    assert.equal((await fs.lstat(path.join(root, 'bin'))).mode & 0o7777, 0o555);
    assert.equal((await fs.lstat(path.join(root, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal((await fs.lstat(root)).mtimeMs, 1_000_000_000_000, 'the "./" entry applies to the root');
    assert.equal(await fs.readFile(path.join(root, long), 'utf8'), 'long');
  });

  it('reads tars written by node-tar', async () => {
    const { sandbox, root } = await freshRoot();
    const src = path.join(sandbox, 'src');
    await fs.mkdir(path.join(src, 'a/b'), { recursive: true });
    await fs.writeFile(path.join(src, 'a/b/c.txt'), 'node-tar');
    await fs.symlink('b/c.txt', path.join(src, 'a/link'));
    const { create } = await import('tar');
    const chunks: Buffer[] = [];
    for await (const c of create({ cwd: src, portable: false }, ['a'])) chunks.push(Buffer.from(c as Buffer));
    await unpack(Buffer.concat(chunks), root);
    assert.equal(await fs.readFile(path.join(root, 'a/b/c.txt'), 'utf8'), 'node-tar');
    assert.equal(await fs.readlink(path.join(root, 'a/link')), 'b/c.txt');
  });

  it('creates device nodes and fifos', async () => {
    const { root } = await freshRoot();
    await unpack([
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600, uid: 7 },
    ], root);
    const dn = await fs.lstat(path.join(root, 'dev/null'));
    assert.ok(dn.isCharacterDevice());
    assert.equal(dn.rdev, (1 << 8) | 3);
    assert.equal(dn.mode & 0o7777, 0o666);
    const lp = await fs.lstat(path.join(root, 'dev/loop9'));
    assert.ok(lp.isBlockDevice()); assert.equal(lp.gid, 6);
    const ff = await fs.lstat(path.join(root, 'run/fifo'));
    assert.ok(ff.isFIFO()); assert.equal(ff.uid, 7); assert.equal(ff.mode & 0o7777, 0o600);
  });

  it('sets xattrs from pax SCHILY.xattr headers, binary values and odd names included', async () => {
    const { root } = await freshRoot();
    const odd = 'we ird=na\\me\u00e9';
    await unpack([
      { name: 'f', data: 'x', xattrs: { 'user.foo': 'bar', 'user.bin': Buffer.from([0, 0xff, 0x80, 0x0a]) } },
      { name: odd, data: 'y', xattrs: { 'user.odd': 'ok' } },
      { name: 'd/', type: 'dir', xattrs: { 'trusted.t': '1' } },
    ], root);
    assert.equal(getfattr(path.join(root, 'f'), 'user.foo'), '0x626172');
    assert.equal(getfattr(path.join(root, 'f'), 'user.bin'), '0x00ff800a');
    assert.equal(getfattr(path.join(root, odd), 'user.odd'), '0x6f6b');
    assert.equal(getfattr(path.join(root, 'd'), 'trusted.t'), '0x31');
  });

  it('replaces a file with a dir and a dir with a file; merges dir over dir', async () => {
    const { root } = await freshRoot();
    await fs.mkdir(path.join(root, 'x/keep'), { recursive: true });
    await fs.writeFile(path.join(root, 'x/keep/k'), 'k');
    await fs.writeFile(path.join(root, 'f'), 'file');
    await fs.mkdir(path.join(root, 'd/sub'), { recursive: true });
    await unpack([
      { name: 'x/', type: 'dir', mode: 0o700 },
      { name: 'x/new', data: 'n' },
      { name: 'f/', type: 'dir' },
      { name: 'f/inner', data: 'i' },
      { name: 'd', data: 'now a file' },
    ], root, 'apply');
    assert.deepEqual(await listAll(root), ['d', 'f', 'f/inner', 'x', 'x/keep', 'x/keep/k', 'x/new']);
    assert.equal(await fs.readFile(path.join(root, 'd'), 'utf8'), 'now a file');
    assert.equal((await fs.lstat(path.join(root, 'x'))).mode & 0o777, 0o700);
  });
});

describe('unpackLayer: root entries and absolute names, as docker reads them', () => {
  for (const mode of ['overlay', 'apply'] as const) {
    it(`${mode}: "/" (umoci's first entry), "./", "." and "//" apply to the root`, async () => {
      for (const [i, name] of ['/', './', '.', '//', '/.'].entries()) {
        const { sandbox, root } = await freshRoot();
        await unpack([
          { name, type: 'dir', mode: 0o711, uid: 9, gid: 8, mtime: 1_000_000_000 + i, xattrs: { 'user.root': 'r' } },
          { name: 'bin/', type: 'dir' },
          { name: 'bin/x', data: 'x' },
        ], root, mode);
        const st = await fs.lstat(root);
        assert.equal(st.mode & 0o7777, 0o711, name);
        assert.equal(st.uid, 9); assert.equal(st.gid, 8);
        assert.equal(st.mtimeMs, (1_000_000_000 + i) * 1000);
        assert.equal(getfattr(root, 'user.root'), '0x72');
        assert.deepEqual(await listAll(root), ['bin', 'bin/x']);
        assert.deepEqual(await fs.readdir(sandbox), ['root'], 'nothing beside the root');
      }
    });

    it(`${mode}: a leading "/" is dropped: names, hard link targets and whiteouts stay inside the root`, async () => {
      const { sandbox, root } = await freshRoot();
      if (mode === 'apply') { await fs.mkdir(path.join(root, 'old')); await fs.writeFile(path.join(root, 'old/gone'), 'lower'); }
      await unpack([
        { name: '/etc/', type: 'dir', mode: 0o750 },
        { name: '/etc/passwd', data: 'root:x:0:0\n' },
        { name: '//etc//group', data: 'root:x:0:\n' },
        { name: '/a/../b', data: 'b' },
        { name: '/etc/passwd-', type: 'link', linkname: '/etc/passwd' },
        { name: '/etc/abs', type: 'symlink', linkname: '/etc/passwd' }, // kept verbatim, never followed
        { name: '/old/.wh.gone' },
      ], root, mode);
      assert.equal(await fs.readFile(path.join(root, 'etc/passwd'), 'utf8'), 'root:x:0:0\n');
      assert.equal(await fs.readFile(path.join(root, 'etc/group'), 'utf8'), 'root:x:0:\n');
      assert.equal(await fs.readFile(path.join(root, 'b'), 'utf8'), 'b');
      assert.equal((await fs.lstat(path.join(root, 'etc/passwd-'))).ino, (await fs.lstat(path.join(root, 'etc/passwd'))).ino);
      assert.equal(await fs.readlink(path.join(root, 'etc/abs')), '/etc/passwd');
      assert.equal((await fs.lstat(path.join(root, 'etc'))).mode & 0o7777, 0o750);
      if (mode === 'overlay') assert.ok((await fs.lstat(path.join(root, 'old/gone'))).isCharacterDevice(), 'whiteout');
      else assert.deepEqual(await fs.readdir(path.join(root, 'old')), []);
      assert.deepEqual(await fs.readdir(sandbox), ['root'], 'nothing beside the root');
      assert.equal(await fs.readFile('/etc/passwd', 'utf8').then((t) => t === 'root:x:0:0\n'), false);
    });
  }

  it('unpacks a layer written by umoci insert ... rootfs / (root entry "/", no end-of-archive marker)', async () => {
    const { sandbox, root } = await freshRoot();
    const src = path.join(sandbox, 'src');
    await fs.mkdir(path.join(src, 'etc'), { recursive: true });
    await fs.writeFile(path.join(src, 'etc/hello'), 'hello\n');
    await fs.symlink('hello', path.join(src, 'etc/link'));
    const layout = path.join(sandbox, 'oci');
    execFileSync('umoci', ['init', '--layout', layout]);
    execFileSync('umoci', ['new', '--image', `${layout}:t`]);
    execFileSync('umoci', ['insert', '--image', `${layout}:t`, src, '/']);
    const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8'));
    const blob = (d: string) => path.join(layout, 'blobs/sha256', d.slice('sha256:'.length));
    const manifest = JSON.parse(await fs.readFile(blob(index.manifests[0].digest), 'utf8'));
    const tar = gunzipSync(await fs.readFile(blob(manifest.layers[0].digest)));
    assert.equal(tar.subarray(0, 2).toString(), '/\0', 'umoci starts the layer with "/"');
    await fs.rm(path.join(sandbox, 'src'), { recursive: true });
    await fs.rm(layout, { recursive: true });
    await unpack(tar, root);
    assert.equal(await fs.readFile(path.join(root, 'etc/hello'), 'utf8'), 'hello\n');
    assert.equal(await fs.readlink(path.join(root, 'etc/link')), 'hello');
    assert.deepEqual(await fs.readdir(sandbox), ['root']);
  });
});

describe('unpackLayer: whiteouts', () => {
  it('overlay mode writes char 0:0 whiteouts and trusted.overlay.opaque', async () => {
    const { root } = await freshRoot();
    await unpack([
      { name: 'a/', type: 'dir' },
      { name: 'a/.wh.gone', uid: 0 },
      { name: 'o/', type: 'dir' },
      { name: 'o/before', data: 'b' },
      { name: 'o/.wh..wh..opq' },
      { name: 'o/after', data: 'a' },
      { name: 'x/.wh..wh.plnk' }, // aufs internals are skipped
    ], root, 'overlay');
    const wh = await fs.lstat(path.join(root, 'a/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(getfattr(path.join(root, 'o'), 'trusted.overlay.opaque'), '0x79');
    assert.deepEqual(await listAll(path.join(root, 'o')), ['after', 'before']);
    assert.equal(await fs.readdir(path.join(root, 'a')).then((l) => l.join()), 'gone');
  });

  it('apply mode deletes whited-out paths and empties opaque dirs of lower content only', async () => {
    const { root } = await freshRoot();
    for (const f of ['a/gone', 'a/keep', 'a/dir/x', 'o/old1', 'o/sub/old2', 'o/sub/deeper/old3', 'o/sub2/old4', 'o/before']) {
      await fs.mkdir(path.join(root, path.dirname(f)), { recursive: true });
      await fs.writeFile(path.join(root, f), 'lower');
    }
    await unpack([
      { name: 'a/.wh.gone' },
      { name: 'a/.wh.dir' },
      { name: 'a/.wh.missing' },
      { name: 'nodir/.wh.nothing' },
      { name: 'o/before', data: 'upper' },   // same layer, before the marker: kept
      { name: 'o/sub/new2', data: 'n' },      // implicit parent sub: its lower content goes
      { name: 'o/.wh..wh..opq' },
      { name: 'o/after', data: 'a' },
    ], root, 'apply');
    assert.deepEqual(await listAll(root), ['a', 'a/keep', 'o', 'o/after', 'o/before', 'o/sub', 'o/sub/new2']);
    assert.equal(await fs.readFile(path.join(root, 'o/before'), 'utf8'), 'upper');
  });
});

describe('unpackLayer: refuses entries that escape the rootfs', () => {
  const cases: Array<{ what: string; bad: string; entries: TarWriteEntry[] }> = [
    { what: '../x', bad: '../x', entries: [{ name: '../x', data: 'pwned' }] },
    { what: '/../x (the leading / is dropped first)', bad: '/../x', entries: [{ name: '/../x', data: 'pwned' }] },
    { what: '//.. as a dir', bad: '//../', entries: [{ name: '//../', type: 'dir' }] },
    { what: './../x', bad: './../x', entries: [{ name: './../x', data: 'pwned' }] },
    { what: 'absolute path through symlink -> /', bad: '/link/etc/passwd', entries: [{ name: '/link', type: 'symlink', linkname: '/' }, { name: '/link/etc/passwd', data: 'pwned' }] },
    { what: 'a/../../x', bad: 'a/../../x', entries: [{ name: 'a/', type: 'dir' }, { name: 'a/../../x', data: 'pwned' }] },
    { what: 'through symlink -> /', bad: 'link/etc/passwd', entries: [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'link/etc/passwd', data: 'pwned' }] },
    { what: 'through symlink -> ..', bad: 'link/x', entries: [{ name: 'link', type: 'symlink', linkname: '..' }, { name: 'link/x', data: 'pwned' }] },
    { what: 'dir through symlink', bad: 'link/newdir/', entries: [{ name: 'link', type: 'symlink', linkname: '..' }, { name: 'link/newdir/', type: 'dir' }] },
    { what: 'hard link to ../../etc/passwd', bad: 'hl', entries: [{ name: 'hl', type: 'link', linkname: '../../etc/passwd' }] },
    { what: 'hard link through a symlink', bad: 'hl', entries: [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'hl', type: 'link', linkname: 'link/etc/passwd' }] },
    { what: 'hard link to /../etc/passwd', bad: 'hl', entries: [{ name: 'hl', type: 'link', linkname: '/../etc/passwd' }] },
    { what: 'hard link to an absolute path through a symlink', bad: 'hl', entries: [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'hl', type: 'link', linkname: '/link/etc/passwd' }] },
    { what: 'absolute whiteout through a symlink', bad: '/link/.wh.passwd', entries: [{ name: 'link', type: 'symlink', linkname: '..' }, { name: '/link/.wh.passwd' }] },
    { what: 'whiteout through a symlink', bad: 'link/.wh.passwd', entries: [{ name: 'link', type: 'symlink', linkname: '..' }, { name: 'link/.wh.passwd' }] },
    { what: 'whiteout of ..', bad: 'a/.wh...', entries: [{ name: 'a/', type: 'dir' }, { name: 'a/.wh...' }] },
  ];
  for (const mode of ['overlay', 'apply'] as const) {
    for (const c of cases) {
      it(`${mode}: ${c.what}`, async () => {
        const { sandbox, root } = await freshRoot();
        await assert.rejects(unpack(c.entries, root, mode), (e: unknown) => {
          assert.ok(e instanceof TsulaError, String(e));
          assert.equal(e.kind, 'InvalidArgument');
          assert.ok(e.message.includes(`"${c.bad}"`), e.message);
          if (!c.what.startsWith('whiteout of')) assert.match(e.message, /escapes the rootfs/);
          return true;
        });
        assert.deepEqual(await fs.readdir(sandbox), ['root'], 'nothing written beside the root');
        assert.equal(await fs.readFile('/etc/passwd', 'utf8').then((s) => s.includes('pwned')), false);
      });
    }
  }

  it('refuses a root entry that is not a directory, and a hard link to the root', async () => {
    for (const [entries, re] of [
      [[{ name: '.', type: 'file', data: 'x' }], /"\.": the root must be a directory/],
      [[{ name: '/', type: 'fifo' }], /"\/": the root must be a directory/],
      [[{ name: '.', type: 'symlink', linkname: '/etc' }], /"\.": the root must be a directory/],
      [[{ name: 'hl', type: 'link', linkname: '/' }], /"hl": hard link to the root directory/],
      [[{ name: 'hl', type: 'link', linkname: './' }], /"hl": hard link to the root directory/],
    ] as Array<[TarWriteEntry[], RegExp]>) {
      const { sandbox, root } = await freshRoot();
      await assert.rejects(unpack(entries, root), (e: unknown) => {
        assert.ok(e instanceof TsulaError && e.kind === 'InvalidArgument', String(e));
        assert.match(e.message, re);
        return true;
      });
      assert.deepEqual(await fs.readdir(sandbox), ['root']);
      assert.equal((await fs.lstat(root)).isDirectory(), true);
    }
  });

  it('refuses a hard link to a missing target', async () => {
    const { root } = await freshRoot();
    await assert.rejects(unpack([{ name: 'hl', type: 'link', linkname: 'nope' }], root), /"hl".*does not exist/);
    await assert.rejects(unpack([{ name: 'd/f', data: 'x' }, { name: 'd', type: 'link', linkname: 'd/f' }], root), /"d".*below itself/);
  });
});

describe('unpackLayer: malformed tars', () => {
  it('names the entry when the filesystem refuses it', async () => {
    const { root } = await freshRoot();
    await assert.rejects(unpack([{ name: `d/${'x'.repeat(300)}`, data: 'x' }], root), (e: unknown) => {
      assert.ok(e instanceof TsulaError && e.kind === 'InvalidArgument' && /ENAMETOOLONG/.test(e.message), String(e));
      return true;
    });
  });
  const good = buildTar([{ name: 'a/', type: 'dir' }, { name: 'a/big', data: Buffer.alloc(5000, 1) }]);
  it('refuses a tar cut in the middle of a file', async () => {
    const { root } = await freshRoot();
    await assert.rejects(unpack(good.subarray(0, 2048), root), /truncated/);
  });
  it('refuses a tar cut inside a header', async () => {
    const { root } = await freshRoot();
    await assert.rejects(unpack(good.subarray(0, 700), root), /truncated/);
  });
  it('accepts a tar that ends cleanly between entries (no end-of-archive marker), as Go\'s archive/tar does', async () => {
    const { root } = await freshRoot();
    await unpack(buildTar([{ name: 'd/', type: 'dir' }, { name: 'd/f', data: 'x' }], { end: false }), root);
    assert.equal(await fs.readFile(path.join(root, 'd/f'), 'utf8'), 'x');
  });
  it('accepts a tar whose last file lacks its block padding (what umoci writes)', async () => {
    const { root } = await freshRoot();
    const tar = buildTar([{ name: 'a', data: 'first' }, { name: 'b', data: 'hello\n' }], { end: false });
    await unpack(tar.subarray(0, tar.length - (512 - 6)), root);
    assert.equal(await fs.readFile(path.join(root, 'b'), 'utf8'), 'hello\n');
  });
  it('refuses a tar that ends after a pax header, before its entry', async () => {
    const { root } = await freshRoot();
    const tar = buildTar([{ name: 'f', data: 'x', xattrs: { 'user.a': 'b' } }], { end: false });
    await assert.rejects(unpack(tar.subarray(0, 1024), root), /truncated or corrupt: a metadata entry without the entry it describes/);
  });
  it('refuses a tar that ends inside the block padding', async () => {
    const { root } = await freshRoot();
    const tar = buildTar([{ name: 'b', data: 'hello\n' }], { end: false });
    await assert.rejects(unpack(tar.subarray(0, tar.length - 100), root), /truncated or corrupt: partial block padding/);
  });
  it('refuses a header with a bad checksum', async () => {
    const { root } = await freshRoot();
    const bad = Buffer.from(good);
    bad[0] ^= 0x55;
    await assert.rejects(unpack(bad, root), /checksum/);
  });
});
