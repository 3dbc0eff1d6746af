// Docker's human-readable container status ("Up 3 seconds", "Exited (0) 2 minutes ago").
import type { InspectView } from './docker-model.js';
import { humanDuration } from '../../common/duration.js';

type ContainerState = Pick<InspectView['State'], 'Status' | 'StartedAt' | 'FinishedAt' | 'ExitCode'> & { Health?: { Status: string } };

export function humanStatus(s: ContainerState, now = Date.now()): string {
  switch (s.Status) {
    case 'running': {
      // dockerd's State.String(): the health after the uptime, "health: starting" spelled out
      const h = s.Health?.Status;
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}${h ? ` (${h === 'starting' ? 'health: starting' : h})` : ''}`;
    }
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting': return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'exited': return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    default: return 'Created';
  }
}

/**
 * A log line's time as docker prints it with `logs -t`: UTC, nine fraction digits, "Z"
 * (Go's RFC3339NanoFixed). conmon writes RFC 3339 with a numeric offset ("+00:00").
 */
export function dockerTimestamp(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  const frac = (m[2] ?? '').slice(0, 9).padEnd(9, '0');
  const utc = m[3] === 'Z' || m[3] === '+00:00' || m[3] === '-00:00' ? m[1]! : new Date(Date.parse(`${m[1]}${m[3]}`)).toISOString().slice(0, 19);
  return `${utc}.${frac}Z`;
}
