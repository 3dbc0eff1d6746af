// What a sandbox kind offers the sandboxer (Kuasar's Sandboxer/Sandbox traits, reduced to
// what the Controller API and the Task API need). A kind owns the thing that holds a pod
// together (a pause process for runc, a VM for vmm); the sandboxer owns records, the
// Controller API and the containers' lifecycle. Adding a kind = adding a folder here.
import type { Spec } from '../../oci/types.js';
import type { Runtime } from '../../runtime/types.js';

export interface SandboxRecord {
  id: string;
  kind: string;
  createdAt: string;          // ISO time
  netnsPath: string;          // '' = the kind makes its own network namespace
  annotations: Record<string, string>;
  state: 'created' | 'ready' | 'stopped';
  pid: number;                // the process that holds the sandbox (pause, VMM)
  exitStatus?: number;
  exitedAt?: string;
  /** Set while a Start runs: a record found with it after a restart was cut short, and goes. */
  startingAt?: string;
  /** The kind's own persisted data (process start time, VM paths, ...). */
  kindState: Record<string, unknown>;
  /** The sandbox's own machine (a VM's size); absent: its containers see the host's. */
  machine?: SandboxMachine;
}

export interface SandboxMachine {
  memoryMib: number;
  vcpus: number;
}

/** A sandbox as asked for, before anything is recorded: what a kind may refuse. */
export interface SandboxRequest {
  id: string;
  netnsPath: string;
  /** The pod uses the host's network (its spec has no network namespace). */
  hostNetwork: boolean;
  annotations: Record<string, string>;
}

export interface StartedSandbox {
  pid: number;
  kindState: Record<string, unknown>;
  machine?: SandboxMachine;
}

export interface SandboxKind {
  readonly name: string;
  /** Refuse a request the kind can't honour (InvalidArgument), before it is recorded. */
  validate?(req: SandboxRequest): void;
  /** Bring the sandbox up: its pid and what must be kept to find it again after a restart. */
  start(sb: SandboxRecord, dir: string): Promise<StartedSandbox>;
  /** Is the sandbox's holder process still the one we started (after a sandboxer restart)? */
  alive(sb: SandboxRecord): Promise<boolean>;
  /** Tear the holder down (its containers were already killed by the sandboxer). */
  stop(sb: SandboxRecord, timeoutSecs: number): Promise<void>;
  /** Adapt a container's OCI spec so the container joins the sandbox. */
  joinSpec(sb: SandboxRecord, spec: Spec): void;
  /**
   * Where the sandbox's containers run when not on the host's conmon + runc (a VM's guest).
   * Absent: the host runtime.
   */
  runtime?(sb: SandboxRecord): Promise<Runtime>;
  /**
   * At the sandboxer's start, work ahead of any sandbox (the vmm kind fills the VM cache its
   * config asks for, as kata's `factory init`).
   */
  prepare?(): Promise<void>;
  /** The sandboxer is closing: stop the kind's own background work (sandboxes stay up). */
  close?(): Promise<void>;
}
