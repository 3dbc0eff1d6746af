// `tsula-boot ip-batch`: the agent's ConfigureNetwork (src/agent/network.ts) as rtnetlink
// requests from one process, instead of a busybox `ip` process per command (~20-30 ms each
// under TCG). Reads `ip` commands from stdin, one per line, as `ip -batch -` does, of the
// few forms the agent writes:
//   [-4|-6] link set dev NAME up|down|name NEW|mtu N
//   [-4|-6] addr add CIDR dev NAME        (an address already there is no error)
//   -4|-6 route replace DST|default [via GW] dev NAME
// Stops at the first failure: "ip LINE: RTNETLINK answers: ERROR" on stderr, exit 1.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ip_batch(void);

struct req {
  struct nlmsghdr h;
  union {
    struct ifinfomsg link;
    struct ifaddrmsg addr;
    struct rtmsg route;
  } u;
  char attrs[512];
};

static void attr(struct req *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/** Send one request and read its ack: 0, or the kernel's errno. */
static int talk(int fd, struct req *r) {
  static unsigned seq;
  r->h.nlmsg_seq = ++seq;
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  if (send(fd, r, r->h.nlmsg_len, 0) < 0) return errno;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { if (errno == EINTR) continue; return errno; }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

/** An address of the family (4, 6; 0: either, told by a ':'), with an optional /prefix. */
static int parse_addr(const char *s, int fam, unsigned char out[16], int *family, int *prefix) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s", s);
  char *slash = strchr(tmp, '/');
  if (slash) *slash++ = 0;
  int f = fam ? fam : strchr(tmp, ':') ? 6 : 4;
  *family = f == 6 ? AF_INET6 : AF_INET;
  if (inet_pton(*family, tmp, out) != 1) return -1;
  int max = f == 6 ? 128 : 32;
  if (prefix) *prefix = slash ? atoi(slash) : max;
  return prefix && (*prefix < 0 || *prefix > max) ? -1 : 0;
}

static int dev_index(const char *name) {
  unsigned i = if_nametoindex(name);
  return i ? (int)i : -ENODEV;
}

/** One command line; 0, an errno, or -1 for a form or an argument this does not know. */
static int run(int fd, char **t, int n) {
  int fam = 0;
  if (n && (!strcmp(t[0], "-4") || !strcmp(t[0], "-6"))) { fam = t[0][1] - '0'; t++; n--; }
  struct req r;
  memset(&r, 0, sizeof r);
  if ((n == 5 || n == 6) && !strcmp(t[0], "link") && !strcmp(t[1], "set") && !strcmp(t[2], "dev")) {
    const char *what = t[4];
    int flag = n == 5 && (!strcmp(what, "up") || !strcmp(what, "down"));
    if (!flag && !(n == 6 && (!strcmp(what, "name") || !strcmp(what, "mtu")))) return -1;
    if (n == 6 && !strcmp(what, "name") && strlen(t[5]) >= IFNAMSIZ) return -1;
    int i = dev_index(t[3]);
    if (i < 0) return -i;
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.link);
    r.h.nlmsg_type = RTM_NEWLINK;
    r.u.link.ifi_family = AF_UNSPEC;
    r.u.link.ifi_index = i;
    if (flag) {
      r.u.link.ifi_change = IFF_UP;
      r.u.link.ifi_flags = strcmp(what, "up") ? 0 : IFF_UP;
    } else if (!strcmp(what, "name")) {
      attr(&r, IFLA_IFNAME, t[5], strlen(t[5]) + 1);
    } else {
      unsigned mtu = (unsigned)strtoul(t[5], NULL, 10);
      attr(&r, IFLA_MTU, &mtu, sizeof mtu);
    }
    return talk(fd, &r);
  }
  if (n == 5 && !strcmp(t[0], "addr") && !strcmp(t[1], "add") && !strcmp(t[3], "dev")) {
    unsigned char a[16];
    int family, prefix, i = dev_index(t[4]);
    if (i < 0) return -i;
    if (parse_addr(t[2], fam, a, &family, &prefix) < 0) return -1;
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.addr);
    r.h.nlmsg_type = RTM_NEWADDR;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.u.addr.ifa_family = (unsigned char)family;
    r.u.addr.ifa_prefixlen = (unsigned char)prefix;
    r.u.addr.ifa_index = (unsigned)i;
    size_t len = family == AF_INET6 ? 16 : 4;
    attr(&r, IFA_LOCAL, a, len);
    attr(&r, IFA_ADDRESS, a, len);
    int e = talk(fd, &r);
    return e == EEXIST ? 0 : e;
  }
  if ((n == 5 || n == 7) && fam && !strcmp(t[0], "route") && !strcmp(t[1], "replace") && !strcmp(t[n - 2], "dev") &&
      (n == 5 || !strcmp(t[3], "via"))) {
    unsigned char dst[16] = {0}, gw[16];
    int family = fam == 6 ? AF_INET6 : AF_INET, prefix = 0, gf, i = dev_index(t[n - 1]);
    if (i < 0) return -i;
    if (strcmp(t[2], "default") && parse_addr(t[2], fam, dst, &family, &prefix) < 0) return -1;
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.route);
    r.h.nlmsg_type = RTM_NEWROUTE;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    r.u.route.rtm_family = (unsigned char)family;
    r.u.route.rtm_dst_len = (unsigned char)prefix;
    r.u.route.rtm_table = RT_TABLE_MAIN;
    r.u.route.rtm_protocol = RTPROT_BOOT;
    r.u.route.rtm_type = RTN_UNICAST;
    // ip's scope: the link for a route without a gateway, the universe through one
    r.u.route.rtm_scope = n == 7 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    size_t len = family == AF_INET6 ? 16 : 4;
    if (prefix) attr(&r, RTA_DST, dst, len);
    if (n == 7) {
      if (parse_addr(t[4], fam, gw, &gf, NULL) < 0 || gf != family) return -1;
      attr(&r, RTA_GATEWAY, gw, len);
    }
    attr(&r, RTA_OIF, &i, sizeof i);
    return talk(fd, &r);
  }
  return -1;
}

int ip_batch(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) { fprintf(stderr, "ip: cannot open a netlink socket: %s\n", strerror(errno)); return 1; }
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char copy[512], *t[16];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *s = strtok(copy, " \t"); s && n < 16; s = strtok(NULL, " \t")) t[n++] = s;
    if (!n) continue;
    int e = run(fd, t, n);
    if (e) {
      if (e < 0) fprintf(stderr, "ip %s: not a command tsula-boot ip-batch knows\n", line);
      else fprintf(stderr, "ip %s: RTNETLINK answers: %s\n", line, strerror(e));
      return 1;
    }
  }
  close(fd);
  return 0;
}
