// tsula's native addon: what node cannot do cheaply from a large process.
//
// spawn: posix_spawn (glibc's is vfork-based: CLONE_VM|CLONE_VFORK), not node's fork(). A
// fork of tsulad copies its page tables and write-protects every page of its heap, and each
// page it writes afterwards faults once more; libuv then blocks the event loop until the
// child has exec'd. With five processes per container that was a third of tsulad's CPU per
// run. The exit comes through a pidfd polled on node's own loop, then waitid(P_PIDFD).
//
// mount, umount2: the syscalls, on the thread pool, instead of starting mount(8)/umount(8).
//
// x32Abi: whether this kernel takes x32 system calls at all (most distributions build it out
// or leave it off: syscall.x32=n); without them docker's seccomp profile need not list the
// x32 ABI, a third of what runc's libseccomp compiles at every container's create.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

/* node's name for an errno (its err.code) */
static const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EPERM: return "EPERM";
    case ENOEXEC: return "ENOEXEC"; case ENOTDIR: return "ENOTDIR"; case E2BIG: return "E2BIG";
    case EMFILE: return "EMFILE"; case ENFILE: return "ENFILE"; case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM"; case EINVAL: return "EINVAL"; case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV"; case ENOTBLK: return "ENOTBLK"; case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case EISDIR: return "EISDIR"; case ETXTBSY: return "ETXTBSY";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, code, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_value no; napi_create_int32(env, -err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_throw(env, e);
  return NULL;
}

/* a JS string array as a NULL-terminated char*[] (one allocation each; freed by free_strv) */
static char **strv(napi_env env, napi_value arr) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **v = calloc(n + 1, sizeof(char *));
  for (uint32_t i = 0; v && i < n; i++) {
    napi_value s; size_t len = 0;
    napi_get_element(env, arr, i, &s);
    if (napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok) { len = 0; }
    v[i] = malloc(len + 1);
    if (v[i]) napi_get_value_string_utf8(env, s, v[i], len + 1, &len);
  }
  return v;
}
static void free_strv(char **v) { if (!v) return; for (char **p = v; *p; p++) free(*p); free(v); }

static char *str(napi_env env, napi_value s) {
  napi_valuetype t; napi_typeof(env, s, &t);
  if (t != napi_string) return NULL;
  size_t len = 0; napi_get_value_string_utf8(env, s, NULL, 0, &len);
  char *b = malloc(len + 1);
  if (b) napi_get_value_string_utf8(env, s, b, len + 1, &len);
  return b;
}

/* ---- spawn ------------------------------------------------------------------------------ */

typedef struct {
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
} child_t;

static void child_closed(uv_handle_t *h) { free(h->data); }

static void child_exited(uv_poll_t *p, int status, int events) {
  child_t *c = p->data;
  siginfo_t si; memset(&si, 0, sizeof si);
  int r;
  do r = waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG); while (r < 0 && errno == EINTR);
  if (r == 0 && si.si_pid == 0) return; /* not yet (a spurious wakeup) */
  uv_poll_stop(p);
  close(c->pidfd);
  napi_handle_scope scope;
  napi_open_handle_scope(c->env, &scope);
  napi_value cb, recv, args[2];
  napi_get_reference_value(c->env, c->cb, &cb);
  napi_get_global(c->env, &recv); /* make_callback wants an object */
  int code = -1, sig = 0;
  if (r == 0 && si.si_code == CLD_EXITED) code = si.si_status;
  else if (r == 0) sig = si.si_status;
  napi_create_int32(c->env, code, &args[0]);
  napi_create_int32(c->env, sig, &args[1]);
  napi_delete_reference(c->env, c->cb);
  uv_close((uv_handle_t *)p, child_closed);
  /* as a callback from the loop: node runs the ticks and microtasks it queues after it */
  napi_value res;
  if (napi_make_callback(c->env, c->ctx, recv, cb, 2, args, &res) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(c->env, &e);
    napi_fatal_exception(c->env, e); /* node's uncaughtException, as for any callback */
  }
  napi_async_destroy(c->env, c->ctx);
  napi_close_handle_scope(c->env, scope);
  (void)status; (void)events;
}

/* spawn(file, argv, envp|null, cwd|null, fds[], newSession, keepsLoopAlive, onExit(code, signal))
 * -> pid. fds[i] becomes the child's fd i; -1 leaves fd i closed. Every other fd of ours is
 * O_CLOEXEC (node opens all its fds so) and goes at the exec. */
static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value a[8];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 8) { napi_throw_type_error(env, NULL, "spawn: 8 arguments"); return NULL; }
  char *file = str(env, a[0]);
  char **argv = strv(env, a[1]);
  napi_valuetype et; napi_typeof(env, a[2], &et);
  char **envp = et == napi_object ? strv(env, a[2]) : NULL;
  char *cwd = str(env, a[3]);
  if (!file || !argv || !argv[0]) {
    free(file); free_strv(argv); free_strv(envp); free(cwd);
    napi_throw_type_error(env, NULL, "spawn: a program and its argv are strings");
    return NULL;
  }
  bool setsid_ = false, ref = true;
  napi_get_value_bool(env, a[5], &setsid_);
  napi_get_value_bool(env, a[6], &ref);
  uint32_t nfd = 0; napi_get_array_length(env, a[4], &nfd);
  posix_spawn_file_actions_t fa; posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa); posix_spawnattr_init(&at);
  int err = 0;
  int *fds = calloc(nfd + 1, sizeof(int));
  for (uint32_t i = 0; i < nfd; i++) { napi_value v; napi_get_element(env, a[4], i, &v); napi_get_value_int32(env, v, &fds[i]); }
  /* a source fd below nfd could be overwritten by an earlier dup2, and a dup2 onto itself
   * would keep its O_CLOEXEC: lift such a source above nfd first */
  for (uint32_t i = 0; i < nfd && !err; i++) {
    if (fds[i] >= 0 && (uint32_t)fds[i] < nfd) {
      int d = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)nfd);
      if (d < 0) err = errno; else fds[i] = d; /* closed in the parent after the spawn */
    }
  }
  for (uint32_t i = 0; i < nfd && !err; i++) {
    if (fds[i] >= 0) err = posix_spawn_file_actions_adddup2(&fa, fds[i], (int)i);
    else err = posix_spawn_file_actions_addclose(&fa, (int)i);
  }
  if (!err && cwd) err = posix_spawn_file_actions_addchdir_np(&fa, cwd);
  /* node ignores SIGPIPE (an ignored signal stays so across exec): the child starts with
   * every signal at its default and none blocked, as libuv's children do */
  sigset_t none; sigemptyset(&none);
  sigset_t dfl; sigfillset(&dfl);
  /* glibc's sigfillset leaves out its internal signals (32, 33: below its SIGRTMIN), and its
   * posix_spawn then gives the child those ignored, which exec keeps: conmon, runc and the
   * container's process would all start with them ignored. Their bits are set by hand
   * (sigaddset refuses them); the child has a signal table of its own. */
  for (int sig = 32; sig < SIGRTMIN; sig++) {
    unsigned long *w = &((unsigned long *)&dfl)[(sig - 1) / (8 * sizeof(unsigned long))];
    *w |= 1UL << ((sig - 1) % (8 * sizeof(unsigned long)));
  }
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (setsid_ ? POSIX_SPAWN_SETSID : 0);
  if (!err) { posix_spawnattr_setsigmask(&at, &none); posix_spawnattr_setsigdefault(&at, &dfl); err = posix_spawnattr_setflags(&at, flags); }
  pid_t pid = -1;
  if (!err) err = posix_spawnp(&pid, file, &fa, &at, argv, envp ? envp : environ);
  for (uint32_t i = 0; i < nfd; i++) {
    napi_value v; int orig = -1; napi_get_element(env, a[4], i, &v); napi_get_value_int32(env, v, &orig);
    if (fds[i] != orig && fds[i] >= 0) close(fds[i]);
  }
  free(fds);
  posix_spawn_file_actions_destroy(&fa); posix_spawnattr_destroy(&at);
  free(file); free_strv(argv); free_strv(envp); free(cwd);
  if (err) return throw_errno(env, err, "spawn");

  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL); waitpid(pid, NULL, 0);
    return throw_errno(env, e, "pidfd_open");
  }
  child_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(pidfd); kill(pid, SIGKILL); waitpid(pid, NULL, 0);
    return throw_errno(env, ENOMEM, "spawn");
  }
  c->pidfd = pidfd; c->env = env; c->poll.data = c;
  napi_create_reference(env, a[7], 1, &c->cb);
  napi_value rname; napi_create_string_utf8(env, "tsula:child", NAPI_AUTO_LENGTH, &rname);
  napi_async_init(env, NULL, rname, &c->ctx);
  struct uv_loop_s *loop; napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &c->poll, pidfd);
  uv_poll_start(&c->poll, UV_READABLE, child_exited);
  if (!ref) uv_unref((uv_handle_t *)&c->poll);
  napi_value r; napi_create_int32(env, pid, &r);
  return r;
}

/* socketpair() -> [ours, the child's], both O_CLOEXEC (a dup2 into the child clears it there):
 * a child's 'pipe' as libuv makes it */
static napi_value SocketPair(napi_env env, napi_callback_info info) {
  int p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) return throw_errno(env, errno, "socketpair");
  napi_value arr, r, w;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, p[0], &r); napi_create_int32(env, p[1], &w);
  napi_set_element(env, arr, 0, r); napi_set_element(env, arr, 1, w);
  (void)info;
  return arr;
}

/* ---- mount, umount2 on the thread pool -------------------------------------------------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *source, *target, *fstype, *data;
  unsigned long flags;
  int umount;
  int err;
} mount_t;

static void mount_exec(napi_env env, void *d) {
  mount_t *m = d;
  int r = m->umount ? umount2(m->target, (int)m->flags) : mount(m->source, m->target, m->fstype, m->flags, m->data);
  m->err = r < 0 ? errno : 0;
  (void)env;
}

static void mount_done(napi_env env, napi_status status, void *d) {
  mount_t *m = d;
  napi_value v;
  if (m->err) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s", m->umount ? "umount" : "mount", strerror(m->err));
    napi_value s, code, no; napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &s);
    napi_create_error(env, NULL, s, &v);
    napi_create_int32(env, -m->err, &no);
    napi_set_named_property(env, v, "errno", no);
    napi_create_string_utf8(env, errno_name(m->err), NAPI_AUTO_LENGTH, &code);
    napi_set_named_property(env, v, "code", code);
    napi_reject_deferred(env, m->deferred, v);
  } else {
    napi_get_undefined(env, &v);
    napi_resolve_deferred(env, m->deferred, v);
  }
  napi_delete_async_work(env, m->work);
  free(m->source); free(m->target); free(m->fstype); free(m->data); free(m);
  (void)status;
}

static napi_value queue(napi_env env, mount_t *m) {
  napi_value promise, name;
  napi_create_promise(env, &m->deferred, &promise);
  napi_create_string_utf8(env, m->umount ? "tsula:umount" : "tsula:mount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, mount_exec, mount_done, m, &m->work);
  napi_queue_async_work(env, m->work);
  return promise;
}

/* the call's n arguments and a mount_t, with the flags from argument flags_at; NULL with an
 * exception pending */
static mount_t *mount_call(napi_env env, napi_callback_info info, size_t n, napi_value *a, size_t flags_at, const char *what) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < n) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s: %zu arguments", what, n);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  mount_t *m = calloc(1, sizeof *m);
  if (!m) { throw_errno(env, ENOMEM, what); return NULL; }
  double f = 0; napi_get_value_double(env, a[flags_at], &f); m->flags = (unsigned long)f;
  return m;
}

/* mount(source, target, fstype, flags, data) -> Promise<void> */
static napi_value Mount(napi_env env, napi_callback_info info) {
  napi_value a[5];
  mount_t *m = mount_call(env, info, 5, a, 3, "mount");
  if (!m) return NULL;
  m->source = str(env, a[0]); m->target = str(env, a[1]); m->fstype = str(env, a[2]); m->data = str(env, a[4]);
  return queue(env, m);
}

/* umount2(target, flags) -> Promise<void> */
static napi_value Umount(napi_env env, napi_callback_info info) {
  napi_value a[2];
  mount_t *m = mount_call(env, info, 2, a, 1, "umount");
  if (!m) return NULL;
  m->umount = 1; m->target = str(env, a[0]);
  return queue(env, m);
}

/* usable() -> whether this kernel has pidfds to wait with (Linux >= 5.4): pidfd_open of
 * ourselves, and waitid(P_PIDFD) on it saying ECHILD (we are not our child), not EINVAL */
static napi_value Usable(napi_env env, napi_callback_info info) {
  bool ok = false;
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd >= 0) {
    siginfo_t si;
    ok = waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD;
    close(fd);
  }
  napi_value r; napi_get_boolean(env, ok, &r);
  (void)info;
  return r;
}

static napi_value X32Abi(napi_env env, napi_callback_info info) {
  bool on = false;
#if defined(__x86_64__)
  // getpid through the x32 ABI (__X32_SYSCALL_BIT): ENOSYS when the kernel has it off
  on = !(syscall(0x40000000L | SYS_getpid) < 0 && errno == ENOSYS);
#endif
  napi_value r; napi_get_boolean(env, on, &r);
  (void)info;
  return r;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "usable", NULL, Usable, NULL, NULL, NULL, napi_default, NULL },
    { "spawn", NULL, Spawn, NULL, NULL, NULL, napi_default, NULL },
    { "socketpair", NULL, SocketPair, NULL, NULL, NULL, napi_default, NULL },
    { "mount", NULL, Mount, NULL, NULL, NULL, napi_default, NULL },
    { "umount", NULL, Umount, NULL, NULL, NULL, napi_default, NULL },
    { "x32Abi", NULL, X32Abi, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
