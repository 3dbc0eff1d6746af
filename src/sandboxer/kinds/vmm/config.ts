// Which vmm.toml a VM sandbox is started with: the sandboxer's (--vmm-config, default
// /etc/tsula/vmm.toml), or the one named by the sandbox's annotation (set from containerd's
// runtime options, or by a client directly, as kata's config_path annotation).
export const VMM_CONFIG_ANNOTATION = 'io.tsula.vmm-config';
