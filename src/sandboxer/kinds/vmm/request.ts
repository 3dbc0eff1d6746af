// What a VM pod may ask for, checked before it is recorded: kept apart from the kind so the
// sandboxer can refuse a request without loading the VM code (kinds/lazy.ts).
import type { SandboxRequest } from '../types.js';
import { invalidArgument } from '../../../common/errors.js';
import { HOSTNAME_ANNOTATION } from '../../podspec.js';
import { HOSTNAME_RE } from '../../../agent/protocol.js';

/**
 * A VM has its own kernel and network stack: it can't share the host's (hostNetwork), it
 * joins the pod's netns through a tap. The hostname goes on the kernel command line.
 */
export function validateVmRequest(req: SandboxRequest): void {
  if (req.hostNetwork) {
    throw invalidArgument(`sandbox ${req.id}: hostNetwork is not supported for VM pods: the guest has its own kernel and network stack (give the pod a network namespace, or use a runc runtime)`);
  }
  const hostname = req.annotations[HOSTNAME_ANNOTATION];
  if (hostname && !HOSTNAME_RE.test(hostname)) throw invalidArgument(`sandbox ${req.id}: hostname ${JSON.stringify(hostname)} (${HOSTNAME_ANNOTATION}) is not a valid hostname`);
}
