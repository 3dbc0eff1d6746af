// A group's id from /etc/group, or a number given as one (as dockerd's lookupGID takes both).
import { promises as fs } from 'node:fs';

/** The gid of `group` (a name in /etc/group, or digits), or null when there is none. */
export async function groupId(group: string): Promise<number | null> {
  if (!group) return null;
  if (/^\d+$/.test(group)) return Number(group); // a gid, as dockerd's lookupGID takes
  const text = await fs.readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group) return Number(gid);
  }
  return null;
}
