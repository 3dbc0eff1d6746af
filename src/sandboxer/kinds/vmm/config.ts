// Which vmm.toml a VM sandbox is started with: the sandboxer's (--vmm-config, default
// /etc/tsula/vmm.toml), or the one named by the sandbox's annotation (set from containerd's
// runtime options, or by a client directly, as kata's config_path annotation).
import { readFile } from 'node:fs/promises';
import { DEFAULT_CONFIG_PATH } from '../../../hypervisor/paths.js';

export const VMM_CONFIG_ANNOTATION = 'io.tsula.vmm-config';

/**
 * Does the vmm.toml at `file` ask for a VM cache (vm_cache_number of 1 or more, in
 * [hypervisor.*] or kata's [factory])? Read as text, so that a sandboxer whose config asks for
 * none loads no VM code at its start; the kind then reads the file for real.
 */
export async function asksForVmCache(file = DEFAULT_CONFIG_PATH): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return /^[ \t]*vm_cache_number[ \t]*=[ \t]*0*[1-9]/m.test(text);
}

/** The VM cache's dir in the sandboxer's state dir (cache.ts), reaped at a sandboxer's start. */
export const VM_CACHE_DIR = 'vmcache';
