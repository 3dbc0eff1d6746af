// Which vmm.toml a VM sandbox is started with: the sandboxer's (--vmm-config, default
// /etc/tsula/vmm.toml), or the one named by the sandbox's annotation (set from containerd's
// runtime options, or by a client directly, as kata's config_path annotation).
export const VMM_CONFIG_ANNOTATION = 'io.tsula.vmm-config';

/** The VM cache's dir in the sandboxer's state dir (cache.ts), reaped at a sandboxer's start. */
export const VM_CACHE_DIR = 'vmcache';
