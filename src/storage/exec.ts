// The host tools storage needs (Node has no mknod, setxattr or mount): common/exec.ts under
// the names storage has always used.
export { exec as run, execOk as runOk, type ExecResult as RunResult } from '../common/exec.js';
