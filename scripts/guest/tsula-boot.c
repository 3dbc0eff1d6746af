// tsula-boot: the guest /init's mounts, module loads, disk and device setup, in one static
// program. Under TCG every process costs ~15-20 ms (exec, page faults, cold code), and the
// shell spent ~40 of them (busybox mount, insmod, mkdir, cp, ln, ip, awk, sha256sum) before
// the agent could start. /init (scripts/build-guest.sh) keeps the control flow; this does
// the work. Built static for generic x86-64 (glibc picks its string routines at run time),
// so it runs on whatever CPU the guest gets.
//   tsula-boot root    exec'd by /init as PID 1 on the initramfs: loads the modules of
//                      /etc/modules-order, copies the initramfs but for those modules into a
//                      tmpfs (runc's pivot_root refuses the initramfs), empties the
//                      initramfs and makes the tmpfs the root (what switch_root does), then
//                      execs /init again there. Should a step before the switch fail, it
//                      execs /init where it is, with TSULA_BOOT_STAY=1.
//   tsula-boot setup   then: /proc /sys /dev /run /tmp, cgroup2, the modules when root did
//                      not load them, the guest image's disk, the pod's virtio-fs share, lo,
//                      the hostname, /dev/virtio-ports links, and the agent snapshot's cache
//                      key in /run/tsula/agent-snapshot-key
//   tsula-boot ip-batch  the agent's ConfigureNetwork: `ip` commands on stdin (ip-batch.c)
// A failed step prints "init: ..." on the console and the next one goes on, as before.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("init: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
}

/** The whole of a small file (at most cap-1 bytes), NUL-terminated; -1 when unreadable. */
static ssize_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  ssize_t r;
  while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
  close(fd);
  buf[n] = 0;
  return (ssize_t)n;
}

/** "init: WHAT 1.94s", the guest's uptime as /proc/uptime has it. */
static void stamp(const char *what) {
  char up[64];
  if (slurp("/proc/uptime", up, sizeof up) <= 0) return;
  up[strcspn(up, " ")] = 0;
  say("%s %ss", what, up);
}

static void mkdirs(const char *path, mode_t mode) {
  char p[4096];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    mkdir(p, mode);
    *s = '/';
  }
  mkdir(p, mode);
}

static int mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) == 0) return 0;
  say("cannot mount %s on %s: %s", type ? type : src, dst, strerror(errno));
  return -1;
}

static char cmdline[4096];

/** The value of kernel parameter `name=` (the last one wins), or NULL. */
static const char *param(const char *name, char *out, size_t cap) {
  size_t len = strlen(name);
  const char *found = NULL;
  for (const char *p = cmdline; *p;) {
    while (*p == ' ' || *p == '\n') p++;
    const char *end = p + strcspn(p, " \n");
    if ((size_t)(end - p) > len && !strncmp(p, name, len) && p[len] == '=') {
      size_t n = (size_t)(end - p) - len - 1;
      if (n >= cap) n = cap - 1;
      memcpy(out, p + len + 1, n);
      out[n] = 0;
      found = out;
    }
    p = end;
  }
  return found;
}

/** tsula.image=pmem: the image is on virtio-pmem (mounted with DAX); else on virtio-blk. */
static int image_on_pmem(void) {
  char v[16];
  const char *img = param("tsula.image", v, sizeof v);
  return img && !strcmp(img, "pmem");
}

static void load_modules(void) {
  char list[4096];
  int pmem = image_on_pmem();
  if (slurp("/etc/modules-order", list, sizeof list) < 0) { say("no /etc/modules-order"); return; }
  for (char *m = strtok(list, "\n"); m; m = strtok(NULL, "\n")) {
    // each disk's modules load only for the disk this VM has
    if (!strcmp(m, "virtio_blk") && pmem) continue;
    if ((!strcmp(m, "libnvdimm") || !strncmp(m, "nd_", 3) || !strcmp(m, "virtio_pmem")) && !pmem) continue;
    char path[256];
    snprintf(path, sizeof path, "/lib/modules/%s.ko", m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) say("insmod %s failed: %s", m, strerror(errno));
    if (fd >= 0) close(fd);
  }
  stamp("modules");
}

// --- root: the initramfs into a tmpfs ---

/** dir/name into out ("/name" under the root). */
static void join(char *out, size_t cap, const char *dir, const char *name) {
  snprintf(out, cap, "%s/%s", strcmp(dir, "/") ? dir : "", name);
}

/** What the tmpfs root does not take: the mount points, the boot modules (loaded already). */
static int skipped(const char *path) {
  size_t n = strlen(path);
  return !strcmp(path, "/proc") || !strcmp(path, "/sys") || !strcmp(path, "/dev") || !strcmp(path, "/newroot") ||
         (!strncmp(path, "/lib/modules/", 13) && n > 3 && !strcmp(path + n - 3, ".ko"));
}

static int copy_tree(const char *from, const char *to);

/** Copy what directory `from` holds into directory `to`; -1 when anything failed (said). */
static int copy_entries(const char *from, const char *to) {
  DIR *d = opendir(from);
  if (!d) return -1;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char a[4096], b[4096];
    join(a, sizeof a, from, e->d_name);
    join(b, sizeof b, to, e->d_name);
    if (skipped(a)) continue;
    if (copy_tree(a, b) < 0) { say("cannot copy %s: %s", a, strerror(errno)); rc = -1; }
  }
  closedir(d);
  return rc;
}

static int copy_tree(const char *from, const char *to) {
  struct stat st;
  if (lstat(from, &st) < 0) return -1;
  int rc = 0;
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(to, st.st_mode & 07777) < 0 && errno != EEXIST) return -1;
    rc = copy_entries(from, to);
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(from, target, sizeof target - 1);
    if (n < 0) return -1;
    target[n] = 0;
    if (symlink(target, to) < 0) return -1;
  } else if (S_ISREG(st.st_mode)) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) { close(in); return -1; }
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = sendfile(out, in, NULL, (size_t)left);
      if (n <= 0) { rc = -1; break; }
      left -= n;
    }
    close(in);
    close(out);
  } else if (mknod(to, st.st_mode, st.st_rdev) < 0) {
    return -1;
  }
  if (lchown(to, st.st_uid, st.st_gid) < 0) rc = -1;
  // the mode past the umask, after the chown (which clears set-id bits)
  if (!S_ISLNK(st.st_mode) && chmod(to, st.st_mode & 07777) < 0) rc = -1;
  return rc;
}

/** Empty a directory of the initramfs, staying on its filesystem (as switch_root does). */
static void remove_tree(const char *dir, dev_t rootdev) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4096];
    struct stat st;
    join(p, sizeof p, dir, e->d_name);
    if (lstat(p, &st) < 0 || st.st_dev != rootdev) continue; // /proc, /newroot: other mounts
    if (S_ISDIR(st.st_mode)) {
      remove_tree(p, rootdev);
      rmdir(p);
    } else {
      unlink(p);
    }
  }
  closedir(d);
}

static int cmd_root(void) {
  mkdir("/proc", 0555);
  mount("proc", "/proc", "proc", 0, NULL);
  stamp("start");
  if (slurp("/proc/cmdline", cmdline, sizeof cmdline) < 0) cmdline[0] = 0;
  // modules first: what the new root need not hold (~2 MB less to copy and to free)
  load_modules();
  struct stat root;
  if (stat("/", &root) < 0) return -1;
  mkdir("/newroot", 0755);
  if (mnt("tmpfs", "/newroot", "tmpfs", 0, "mode=0755") < 0) return -1;
  int rc = copy_entries("/", "/newroot");
  mkdir("/newroot/proc", 0555);
  mkdir("/newroot/sys", 0555);
  mkdir("/newroot/dev", 0755);
  int fd = open("/newroot/.tsula-tmpfs-root", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) rc = -1; else close(fd);
  umount("/proc");
  if (rc < 0) { umount("/newroot"); return -1; }
  // what switch_root does: free the initramfs' pages, move the tmpfs over /, enter it
  remove_tree("/", root.st_dev);
  // (the initramfs is empty now: a failed move still enters the tmpfs, which then is no
  // mount of its own, so runc's pivot_root fails there, but the guest boots)
  if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0) say("cannot move the tmpfs root over /: %s", strerror(errno));
  if (chroot(".") < 0 || chdir("/") < 0) say("cannot enter the tmpfs root: %s", strerror(errno));
  execl("/init", "/init", (char *)NULL);
  say("cannot exec /init in the tmpfs root: %s", strerror(errno));
  return -1;
}

// --- setup: after the switch ---

/** The guest image's disk, read-only; its top directories bound over the initramfs' own. */
static void mount_image(int pmem) {
  const char *dev = pmem ? "/dev/pmem0" : "/dev/vda";
  struct stat st;
  for (int i = 0; i < 200 && (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)); i++) usleep(10000);
  mkdirs("/mnt/sys", 0755);
  // the filesystem type as mount(8) finds it: each block filesystem the kernel knows, in turn
  char fss[4096];
  int done = 0, err = ENODEV;
  if (slurp("/proc/filesystems", fss, sizeof fss) > 0) {
    for (char *l = strtok(fss, "\n"); l && !done; l = strtok(NULL, "\n")) {
      if (!strncmp(l, "nodev", 5)) continue;
      while (*l == '\t' || *l == ' ') l++;
      if (mount(dev, "/mnt/sys", l, MS_RDONLY, pmem ? "dax=always" : NULL) == 0) done = 1; else err = errno;
    }
  }
  if (!done) { say("cannot mount the guest image %s: %s", dev, strerror(err)); return; }
  DIR *d = opendir("/mnt/sys");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "lost+found")) continue;
    char from[512], to[512];
    snprintf(from, sizeof from, "/mnt/sys/%s", e->d_name);
    snprintf(to, sizeof to, "/%s", e->d_name);
    mkdirs(to, 0755);
    mnt(from, to, NULL, MS_BIND, NULL);
  }
  closedir(d);
}

static void lo_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { if (s >= 0) close(s); return; }
  ifr.ifr_flags |= IFF_UP;
  ioctl(s, SIOCSIFFLAGS, &ifr);
  close(s);
}

/** The pod's hostname (tsula.hostname=, checked by the sandboxer), for the guest and /etc. */
static void set_hostname(void) {
  char h[256];
  if (!param("tsula.hostname", h, sizeof h) || !*h) strcpy(h, "tsula-guest");
  if (sethostname(h, strlen(h)) < 0) say("cannot set the hostname %s: %s", h, strerror(errno));
  int fd = open("/etc/hostname", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dprintf(fd, "%s\n", h);
    close(fd);
  }
}

/** /dev/virtio-ports/NAME -> /dev/vportNpM, as udev names them (the agent's channel). */
static void link_virtio_ports(void) {
  const char *cls = "/sys/class/virtio-ports";
  // the ports appear asynchronously after virtio_console loads
  for (int i = 0; i < 100; i++) {
    DIR *d = opendir(cls);
    int any = 0;
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) if (e->d_name[0] != '.') { any = 1; break; }
      closedir(d);
    }
    if (any) break;
    usleep(10000);
  }
  DIR *d = opendir(cls);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512], name[256], dev[512], link[512];
    snprintf(path, sizeof path, "%s/%s/name", cls, e->d_name);
    if (slurp(path, name, sizeof name) <= 0) continue;
    name[strcspn(name, "\n")] = 0;
    if (!*name || strchr(name, '/')) continue;
    snprintf(dev, sizeof dev, "/dev/%s", e->d_name);
    snprintf(link, sizeof link, "/dev/virtio-ports/%s", name);
    unlink(link);
    if (symlink(dev, link) < 0) say("cannot link %s: %s", link, strerror(errno));
  }
  closedir(d);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
  return h;
}

/**
 * The agent snapshot's cache key: what V8 checks a snapshot against. The image (node, the
 * agent: /opt/tsula/image-id), the node flags, and the first CPU's vendor_id, cpu family,
 * model and flags lines. 64-bit FNV-1a as 16 hex digits: a cache key, not a guard (V8 checks
 * a blob itself, and /init falls back to the script when V8 refuses one).
 */
static void snapshot_key(void) {
  static char cpu[65536];
  char id[256], flags[1024];
  uint64_t h = 0xcbf29ce484222325ULL;
  if (slurp("/opt/tsula/image-id", id, sizeof id) < 0) id[0] = 0;
  if (slurp("/etc/agent-node-flags", flags, sizeof flags) < 0) flags[0] = 0;
  h = fnv1a(h, id, strlen(id));
  h = fnv1a(h, flags, strlen(flags));
  if (slurp("/proc/cpuinfo", cpu, sizeof cpu) > 0) {
    int proc = 0;
    for (char *l = strtok(cpu, "\n"); l; l = strtok(NULL, "\n")) {
      size_t k = strcspn(l, "\t:");
      if (!strncmp(l, "processor", 9) && k == 9 && ++proc > 1) break;
      if (proc != 1) continue;
      if ((k == 9 && !strncmp(l, "vendor_id", 9)) || (k == 10 && !strncmp(l, "cpu family", 10)) ||
          (k == 5 && !strncmp(l, "model", 5)) || (k == 5 && !strncmp(l, "flags", 5))) {
        h = fnv1a(h, l, strlen(l));
        h = fnv1a(h, "\n", 1);
      }
    }
  }
  int fd = open("/run/tsula/agent-snapshot-key", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { say("cannot write the agent snapshot key: %s", strerror(errno)); return; }
  dprintf(fd, "%016llx\n", (unsigned long long)h);
  close(fd);
}

static int cmd_setup(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  struct stat st;
  int switched = stat("/.tsula-tmpfs-root", &st) == 0;
  stamp(switched ? "tmpfs root" : "start");
  if (slurp("/proc/cmdline", cmdline, sizeof cmdline) < 0) cmdline[0] = 0;
  mnt("sysfs", "/sys", "sysfs", 0, NULL);
  mnt("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mkdir("/dev/pts", 0755);
  mkdir("/dev/shm", 0755);
  mkdir("/run", 0755);
  mkdir("/tmp", 0755);
  mnt("devpts", "/dev/pts", "devpts", 0, NULL);
  mnt("tmpfs", "/run", "tmpfs", 0, NULL);
  mnt("tmpfs", "/tmp", "tmpfs", 0, NULL);
  mkdirs("/run/tsula/tasks", 0755);
  mkdirs("/run/tsula/shared", 0755);
  mkdirs("/dev/virtio-ports", 0755);
  // cgroup v2, unified at /sys/fs/cgroup; controllers one by one: an unknown one fails alone
  if (mnt("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) == 0) {
    static const char *ctl[] = {"+cpu", "+memory", "+pids", "+io", "+cpuset"};
    for (size_t i = 0; i < sizeof ctl / sizeof *ctl; i++) {
      int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, ctl[i], strlen(ctl[i])) < 0) say("no cgroup controller %s", ctl[i] + 1);
      if (fd >= 0) close(fd);
    }
  }
  // the root step loaded them, unless /init could not switch roots
  if (!switched) load_modules();
  // tsula.image=pmem: the image is on virtio-pmem, mounted with DAX (its pages are the
  // host's page cache, shared by every VM, not copied into this guest's RAM); else virtio-blk
  int pmem = image_on_pmem();
  // an initramfs that holds the programs itself (build-guest.sh without --image) has no disk
  if (stat("/opt/tsula/tsula-agent.cjs", &st) < 0) mount_image(pmem);
  // the pod's shared directory: a virtiofs device tagged tsula, when the host gives one
  if (mount("tsula", "/run/tsula/shared", "virtiofs", 0, NULL) < 0) say("no shared fs");
  lo_up();
  set_hostname();
  link_virtio_ports();
  snapshot_key();
  return 0;
}

int ip_batch(void);

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "root")) {
    cmd_root();
    // still on the initramfs: /init goes on from there
    setenv("TSULA_BOOT_STAY", "1", 1);
    execl("/init", "/init", (char *)NULL);
    return 1;
  }
  if (argc == 2 && !strcmp(argv[1], "setup")) return cmd_setup();
  if (argc == 2 && !strcmp(argv[1], "ip-batch")) return ip_batch();
  fprintf(stderr, "usage: tsula-boot root|setup|ip-batch\n");
  return 2;
}
