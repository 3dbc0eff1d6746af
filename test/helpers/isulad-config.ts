// iSulad's daemon.json as its packages install it (src/contrib/config/daemon.json), key for
// key: what a user moving from iSulad brings to tsulad.
export const ISULAD_DAEMON_JSON = {
  group: 'isulad', 'default-runtime': 'lcr', graph: '/var/lib/isulad', state: '/var/run/isulad', engine: 'lcr',
  'log-level': 'ERROR', pidfile: '/var/run/isulad.pid',
  'log-opts': { 'log-file-mode': '0600', 'log-path': '/var/lib/isulad', 'max-file': '1', 'max-size': '30KB' },
  'log-driver': 'stdout', 'hook-spec': '/etc/default/isulad/hooks/default.json', 'start-timeout': '2m',
  'storage-driver': 'overlay2', 'storage-opts': ['overlay2.override_kernel_check=true'],
  'registry-mirrors': [], 'insecure-registries': [], 'pod-sandbox-image': '', 'image-opt-timeout': '5m',
  'image-server-sock-addr': 'unix:///var/run/isulad/isula_image.sock', 'native.umask': 'secure',
  'network-plugin': '', 'cni-bin-dir': '', 'cni-conf-dir': '', 'image-layer-check': false,
  'use-decrypted-key': true, 'insecure-skip-verify-enforce': false,
};
