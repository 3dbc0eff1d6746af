// Docker's human-readable container status ("Up 3 seconds", "Exited (0) 2 minutes ago").
import type { InspectView } from './docker-model.js';
import { humanDuration } from '../../common/duration.js';

type ContainerState = Pick<InspectView['State'], 'Status' | 'StartedAt' | 'FinishedAt' | 'ExitCode'>;

export function humanStatus(s: ContainerState, now = Date.now()): string {
  switch (s.Status) {
    case 'running': return `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting': return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'exited': return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    default: return 'Created';
  }
}
