// What the build knew about itself: the git commit and the time of the bundle, put in by
// scripts/bundle.mjs (esbuild's define). Blank when running unbundled (dist/, tests).
declare const __TSULA_GIT_COMMIT__: string | undefined;
declare const __TSULA_BUILD_TIME__: string | undefined;

export const GIT_COMMIT: string = typeof __TSULA_GIT_COMMIT__ === 'string' ? __TSULA_GIT_COMMIT__ : '';
export const BUILD_TIME: string = typeof __TSULA_BUILD_TIME__ === 'string' ? __TSULA_BUILD_TIME__ : '';
