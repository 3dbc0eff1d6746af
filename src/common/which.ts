// Resolve a program name to an absolute path via PATH (conmon and runc want absolute paths).
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';

export async function which(name: string): Promise<string | null> {
  if (name.includes('/')) return (await isExec(name)) ? path.resolve(name) : null;
  const dirs = (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  for (const d of [...dirs, '/usr/sbin', '/sbin']) {
    const p = path.join(d, name);
    if (await isExec(p)) return p;
  }
  return null;
}

async function isExec(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
