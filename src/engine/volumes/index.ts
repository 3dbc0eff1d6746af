// Volumes of the local driver (docker's `volume` commands, -v name:/path, --mount
// type=volume, the image's VOLUMEs): the store (store.ts) and the container hooks that make,
// fill (copyup.ts) and remove them (hooks.ts). Owns <graph>/volumes. May call common/, oci/.
export { VolumeStore } from './store.js';
export { VolumeHooks } from './hooks.js';
export { ANONYMOUS_LABEL, isAnonymous, noVolumePlugin, type VolumeRecord } from './store.js';
