// A container's persistent record: shaped after `docker inspect` so the API returns it
// nearly as stored. One directory per container under <graph>/containers/<id>.
import type { ResourceConfig } from './resources.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
}

export interface Ulimit { Name: string; Soft: number; Hard: number }

/** Resource fields (Memory, CpuShares, …, OomScoreAdj) are resources.ts's ResourceConfig. */
export interface HostConfig extends ResourceConfig {
  Binds: string[] | null;
  NetworkMode: string;
  AutoRemove: boolean;
  Runtime: string;
  ReadonlyRootfs: boolean;
  Ulimits: Ulimit[] | null;
  Annotations: Record<string, string> | null;
  Privileged: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  SecurityOpt: string[] | null;
}

export interface MountPoint {
  Type: 'bind';
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerRecord {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;            // image id (sha256:…)
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;             // "/name", as docker
  RestartCount: number;
  Driver: string;
  Platform: 'linux';
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  /** tsula's own: the pod the container belongs to (CRI containers), absent otherwise. */
  PodId?: string;
}

export function initialState(): ContainerState {
  return {
    Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
    Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME,
  };
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
