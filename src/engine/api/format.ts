// Docker's human-readable container status ("Up 3 seconds", "Exited (0) 2 minutes ago").
import type { InspectView } from './docker-model.js';

type ContainerState = Pick<InspectView['State'], 'Status' | 'StartedAt' | 'FinishedAt' | 'ExitCode'>;

export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function humanStatus(s: ContainerState, now = Date.now()): string {
  switch (s.Status) {
    case 'running': return `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
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
