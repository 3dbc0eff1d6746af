// Device nodes and xattrs: Node has neither mknod(2) nor setxattr(2), so unpack batches them
// into a few child processes (mknod from coreutils, setfattr from Debian's `attr`). Paths are
// root-relative and the child runs with cwd = root; unpack has already checked that no parent
// component is a symlink, and setfattr runs with -h so a final symlink is not followed either.
import { internal } from '../common/errors.js';
import { run } from './exec.js';

export interface NodeSpec {
  rel: string;
  kind: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

export interface XattrSpec { rel: string; name: string; value: Buffer }

// One shell for the whole batch: a fork+exec of mknod from sh is far cheaper than a spawn from Node.
const MKNOD_SCRIPT = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -- "$1" p || exit 1; '
  + 'else mknod -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';

export async function makeNodes(root: string, nodes: NodeSpec[]): Promise<void> {
  if (nodes.length === 0) return;
  const args: string[] = [];
  for (const n of nodes) {
    const t = n.kind === 'char' ? 'c' : n.kind === 'block' ? 'b' : 'p';
    args.push(`./${n.rel}`, t, String(n.major), String(n.minor));
  }
  const r = await run('sh', ['-c', MKNOD_SCRIPT, 'sh', ...args], { cwd: root });
  if (r.code !== 0) throw internal(`creating device nodes failed: ${r.stderr || `exit ${r.code}`}`);
}

/** getfattr's dump quoting, which `setfattr --restore` undoes: \ooo for anything unusual. */
function quote(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b > 0x20 && b < 0x7f && b !== 0x5c && b !== 0x3d ? String.fromCharCode(b) : '\\' + b.toString(8).padStart(3, '0');
  }
  return out;
}

const NAME_RE = /^[\x21-\x3c\x3e-\x7e]+$/; // printable, no '=' (it ends the name in the dump format)

/**
 * Set xattrs. With fatal=false, failures (EPERM on user.* of a symlink, ENOTSUP on the
 * backing fs: docker ignores these too) come back as warnings; with fatal=true they throw.
 */
export async function setXattrs(root: string, specs: XattrSpec[], fatal: boolean): Promise<string[]> {
  if (specs.length === 0) return [];
  const warnings: string[] = [];
  const byPath = new Map<string, XattrSpec[]>();
  for (const x of specs) {
    if (!NAME_RE.test(x.name)) { warnings.push(`${x.rel}: ignored xattr with an invalid name`); continue; }
    const l = byPath.get(x.rel) ?? [];
    l.push(x);
    byPath.set(x.rel, l);
  }
  let dump = '';
  for (const [rel, xs] of byPath) {
    dump += `# file: ${quote(rel === '' ? '.' : `./${rel}`)}\n`;
    for (const x of xs) dump += `${x.name}=${x.value.length ? `0x${x.value.toString('hex')}` : '""'}\n`;
    dump += '\n';
  }
  if (!dump) return warnings;
  const r = await run('setfattr', ['-h', '--restore=-'], { cwd: root, input: dump });
  if (r.code !== 0) {
    if (fatal) throw internal(`setting xattrs failed: ${r.stderr || `exit ${r.code}`}`);
    warnings.push(...r.stderr.split('\n').filter(Boolean).map((l) => `xattr: ${l}`));
  }
  return warnings;
}
