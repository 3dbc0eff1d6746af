import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeFile, removeTree } from '../../src/common/fsutil.js';

async function tmp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-rmtree-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

test('removeTree: files, nested dirs, fifos and symlinks go; a symlink\'s target outside stays; a missing path is no error', async (t) => {
  const dir = await tmp(t);
  const outside = path.join(dir, 'outside');
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'keep'), 'x');
  const tree = path.join(dir, 'tree');
  await fs.mkdir(path.join(tree, 'a/b/c'), { recursive: true });
  await fs.mkdir(path.join(tree, 'empty'));
  await fs.writeFile(path.join(tree, 'a/b/c/f'), 'x');
  await fs.writeFile(path.join(tree, 'top'), 'x');
  await fs.chmod(path.join(tree, 'top'), 0o000);
  await fs.symlink(outside, path.join(tree, 'a/link-to-dir'));
  await fs.symlink('/nonexistent', path.join(tree, 'dangling'));
  execFileSync('mkfifo', [path.join(tree, 'a/fifo')]);
  await removeTree(tree);
  await assert.rejects(fs.lstat(tree), { code: 'ENOENT' });
  assert.equal(await fs.readFile(path.join(outside, 'keep'), 'utf8'), 'x');
  await removeTree(tree); // gone already
  await removeTree(path.join(dir, 'never/was'));
});

test('removeTree of a file or a symlink removes it alone; removeFile is rm -f', async (t) => {
  const dir = await tmp(t);
  await fs.writeFile(path.join(dir, 'f'), 'x');
  await fs.mkdir(path.join(dir, 'd'));
  await fs.writeFile(path.join(dir, 'd/in'), 'x');
  await fs.symlink(path.join(dir, 'd'), path.join(dir, 'l'));
  await removeTree(path.join(dir, 'f'));
  await removeTree(path.join(dir, 'l'));
  assert.deepEqual((await fs.readdir(dir)).sort(), ['d']);
  assert.deepEqual(await fs.readdir(path.join(dir, 'd')), ['in']);
  await removeFile(path.join(dir, 'd/in'));
  await removeFile(path.join(dir, 'd/in'));
  await assert.rejects(removeFile(path.join(dir, 'd')), { code: 'EISDIR' });
});

test('removeTree does not cross a mount: a mount point below refuses the removal, its content stays', async (t) => {
  const dir = await tmp(t);
  const mnt = path.join(dir, 'tree/sub/mnt');
  await fs.mkdir(mnt, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
  t.after(() => { try { execFileSync('umount', ['-l', mnt]); } catch { /* gone */ } });
  await fs.writeFile(path.join(mnt, 'precious'), 'x');
  await assert.rejects(removeTree(path.join(dir, 'tree')), /is a mount point/);
  assert.equal(await fs.readFile(path.join(mnt, 'precious'), 'utf8'), 'x');
  execFileSync('umount', [mnt]);
  await removeTree(path.join(dir, 'tree'));
  await assert.rejects(fs.lstat(path.join(dir, 'tree')), { code: 'ENOENT' });
});

test('removeTree of a tree deeper than PATH_MAX (paths too long to build): GNU rm finishes it', async (t) => {
  const dir = await tmp(t);
  // built by relative mkdir + chdir in a child, as a container builds it below its root (a
  // shell's cd keeps a logical path and stops at PATH_MAX)
  const build = "const fs=require('fs');process.chdir(process.argv[1]);fs.mkdirSync('deep');process.chdir('deep');for(let i=0;i<2200;i++){fs.mkdirSync('a');process.chdir('a')}fs.writeFileSync('f','x')";
  execFileSync(process.execPath, ['-e', build, dir]);
  await removeTree(path.join(dir, 'deep'));
  await assert.rejects(fs.lstat(path.join(dir, 'deep')), { code: 'ENOENT' });
});
