// Where the VM config and the guest's assets are by default: a module of its own, so that
// code checking the config before any VM runs (the sandboxer's start) loads no parser.
export const DEFAULT_CONFIG_PATH = '/etc/tsula/vmm.toml';
export const DEFAULT_GUEST_DIR = '/var/lib/tsula/guest';
