// The Engine API versions tsulad serves, and what a request asked for.
import { compareVersions } from '../../common/compare.js';

/**
 * The newest Engine API version served (dockerd 29's): what a request without a /vX.Y/ prefix
 * gets. docker 29's CLI talks nothing older than 1.44; older clients ask for their own.
 */
export const API_VERSION = '1.52';
/** The oldest API version served (dockerd 20.10's), which the CLI shows as the minimum. */
export const MIN_API_VERSION = '1.12';
export const VERSION = '0.1.0';

/**
 * Did the request ask for API `v` or newer? What changed between versions (a field added or
 * dropped, a default) is gated on the version the client asked for, as dockerd's
 * versions.GreaterThanOrEqualTo(httputils.VersionFromContext(ctx), ...) does.
 */
export function versionAtLeast(requested: string, v: string): boolean {
  return compareVersions(requested, v) >= 0;
}
