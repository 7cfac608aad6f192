// The container init in C: pcr's fast path for the common container. The Go
// parent (runtime/fastplan.go) turns the spec into a flat plan of steps; this
// code, run from the constructor before the Go runtime exists, receives the
// plan on the sync socket and carries it out: mounts, /dev, pivot_root,
// masked paths, hostname, credentials, then the wait on exec.fifo and the
// execve. A process that takes this path never starts Go, which on the
// machines pcr was measured on costs more than all the kernel work together
// (page faults and thread wake-ups of the runtime's start).
//
// It only does the happy path. Any step that fails sends
//   {"type":"fallback","error":"..."}
// and exits before "ready": the parent then starts the Go init (init.go), the
// reference implementation, which redoes the container from scratch in fresh
// namespaces and reports the error in its own words. After "ready" nothing
// can fall back; what fails then (the exec.fifo, a seccomp load, execve) is
// reported on stderr with exit status 1, as the Go init does.
//
// The plan is a sequence of NUL-terminated tokens: an op letter, then that
// op's arguments, fixed per op (see run_plan). Numbers are decimal, masks and
// seccomp programs hexadecimal.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define PLAN_MAX (1 << 20)
#define MAX_ARGS 4096

struct fast {
	int sync, fifo, trace;
	long long trace_start, trace_last; // ns, CLOCK_REALTIME
	const char *rootfs;
	char *plan;
	size_t len, pos;
	// the payload, resolved by op 'l' before privileges are dropped
	const char *path;
	char *argv[MAX_ARGS + 1];
	char *envp[MAX_ARGS + 2];
	char home[PATH_MAX + 8];
	// seccomp loaded by op 'x' (no_new_privs: after the user switch)
	struct sock_filter *late_filter;
	unsigned short late_len;
	unsigned int late_bits;
	int umask_set;
};

static char plan_buf[PLAN_MAX];
static struct sock_filter filter_buf[4096];

static void put_all(int fd, const char *buf, size_t len) {
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return;
		buf += n, len -= (size_t)n;
	}
}

// send_msg sends one message on the sync socket with sendmsg(2), the call
// the Go init makes: a seccomp profile loaded before "ready" may allow only it.
static ssize_t send_msg(int fd, const char *buf, size_t len) {
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

// bail tells the parent to fall back to the Go init and exits.
static void bail(struct fast *f, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void bail(struct fast *f, const char *fmt, ...) {
	char msg[1024], line[4096];
	size_t n;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = (size_t)snprintf(line, sizeof(line), "{\"type\":\"fallback\",\"error\":\"");
	for (const unsigned char *p = (const unsigned char *)msg; *p && n < sizeof(line) - 16; p++) {
		if (*p == '"' || *p == '\\') line[n++] = '\\', line[n++] = (char)*p;
		else if (*p < 0x20) n += (size_t)snprintf(line + n, 7, "\\u%04x", *p);
		else line[n++] = (char)*p;
	}
	memcpy(line + n, "\"}", 2);
	send_msg(f->sync, line, n + 2);
	_exit(1);
}

// die is for the steps after "ready", when the parent no longer listens.
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
	char msg[1024];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "pcr init: ");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2) n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	put_all(2, msg, (size_t)n);
	_exit(1);
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// stage writes a --debug line in the Go tracer's format.
static void stage(struct fast *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stage(struct fast *f, const char *fmt, ...) {
	char what[PATH_MAX + 64], line[PATH_MAX + 128];
	long long now;
	va_list ap;
	int n;
	if (f->trace < 0) return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	now = now_ns();
	n = snprintf(line, sizeof(line), "pcr init: trace %8lldµs (+%6lldµs) %s\n", (now - f->trace_start) / 1000,
		     (now - f->trace_last) / 1000, what);
	if (n > 0) put_all(f->trace, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	f->trace_last = now;
}

static char *tok(struct fast *f) {
	char *s;
	size_t n;
	if (f->pos >= f->len) bail(f, "plan ends early");
	s = f->plan + f->pos;
	n = strnlen(s, f->len - f->pos);
	if (n == f->len - f->pos) bail(f, "plan token not terminated");
	f->pos += n + 1;
	return s;
}

static long long num(struct fast *f) {
	char *s = tok(f), *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s) bail(f, "plan number %s", s);
	return v;
}

static unsigned long long hex(struct fast *f) {
	char *s = tok(f), *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno || *end || end == s) bail(f, "plan mask %s", s);
	return v;
}

static int getenv_fd(const char *name) {
	const char *v = getenv(name);
	char *end;
	long fd;
	if (!v || !*v) return -1;
	fd = strtol(v, &end, 10);
	if (*end || fd < 0 || fd > 65535) return -1;
	return (int)fd;
}

// resolve_in_root is resolveInRoot of rootfs.go: path joined to the rootfs,
// its symlinks followed as if the rootfs were /.
static void resolve_in_root(struct fast *f, const char *path, char *out, size_t outsz) {
	char todo[2 * PATH_MAX], resolved[PATH_MAX], host[2 * PATH_MAX], target[PATH_MAX];
	int links = 0;
	struct stat st;
	resolved[0] = '\0';
	if (strlen(path) >= sizeof(todo)) bail(f, "path %s too long", path);
	strcpy(todo, path);
	char *rest = todo;
	while (*rest) {
		char *part = rest, *slash = strchr(rest, '/');
		if (slash) *slash = '\0', rest = slash + 1;
		else rest = part + strlen(part);
		if (!*part || !strcmp(part, ".")) continue;
		if (!strcmp(part, "..")) {
			char *last = strrchr(resolved, '/');
			if (last) *last = '\0';
			continue;
		}
		size_t rl = strlen(resolved);
		if (rl + 1 + strlen(part) >= sizeof(resolved)) bail(f, "path %s too long", path);
		resolved[rl] = '/';
		strcpy(resolved + rl + 1, part);
		snprintf(host, sizeof(host), "%s%s", f->rootfs, resolved);
		if (lstat(host, &st) < 0 || !S_ISLNK(st.st_mode)) continue;
		if (++links > 255) bail(f, "resolve %s in %s: too many symlinks", path, f->rootfs);
		ssize_t tl = readlink(host, target, sizeof(target) - 1);
		if (tl < 0) bail(f, "readlink %s: %s", host, strerror(errno));
		target[tl] = '\0';
		resolved[rl] = '\0'; // the link itself is replaced by its target
		if (target[0] == '/') resolved[0] = '\0';
		char next[2 * PATH_MAX];
		if ((size_t)snprintf(next, sizeof(next), "%s/%s", target, rest) >= sizeof(next))
			bail(f, "path %s too long", path);
		strcpy(todo, next);
		rest = todo;
	}
	if ((size_t)snprintf(out, outsz, "%s%s", f->rootfs, resolved) >= outsz) bail(f, "path %s too long", path);
}

static int is_dir(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void mkdir_all(struct fast *f, const char *path) {
	char buf[2 * PATH_MAX];
	if (strlen(path) >= sizeof(buf)) bail(f, "path %s too long", path);
	strcpy(buf, path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST) bail(f, "mkdir %s: %s", buf, strerror(errno));
			*p = c;
			if (!c) break;
		}
	}
	if (!is_dir(path)) bail(f, "mkdir %s: not a directory", path);
}

static void mk_target(struct fast *f, const char *path, int dir) {
	char parent[2 * PATH_MAX];
	if (dir) {
		mkdir_all(f, path);
		return;
	}
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		mkdir_all(f, parent);
	}
	int fd = open(path, O_CREAT | O_RDONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (is_dir(path)) return;
		bail(f, "create mount point %s: %s", path, strerror(errno));
	}
	close(fd);
}

static void do_mount(struct fast *f, const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
	// As the Go init (x/sys/unix.Mount): empty source and type are "", an
	// empty data is NULL.
	if (mount(src, dst, type, flags, *data ? data : NULL) < 0)
		bail(f, "mount %s on %s (%s, %#lx, %s): %s", src, dst, type, flags, data, strerror(errno));
}

// remount_ro keeps the flags a mount has: remountReadonly of rootfs.go.
static void remount_ro(struct fast *f, const char *path) {
	struct statfs st;
	if (statfs(path, &st) < 0) bail(f, "statfs %s: %s", path, strerror(errno));
	unsigned long keep = (unsigned long)st.f_flags &
			     (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
	do_mount(f, "", path, "", keep | MS_BIND | MS_REMOUNT | MS_RDONLY, "");
}

static void make_parent_private(struct fast *f, const char *path) {
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (;;) {
		if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) == 0) return;
		if (errno != EINVAL || !strcmp(dir, "/")) bail(f, "make the mount holding %s private: %s", path, strerror(errno));
		char *slash = strrchr(dir, '/');
		if (slash == dir) dir[1] = '\0';
		else *slash = '\0';
	}
}

static void pivot(struct fast *f) {
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int newroot = open(f->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0) bail(f, "open / or %s: %s", f->rootfs, strerror(errno));
	if (fchdir(newroot) < 0) bail(f, "chdir %s: %s", f->rootfs, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0) bail(f, "pivot_root %s: %s", f->rootfs, strerror(errno));
	if (fchdir(oldroot) < 0) bail(f, "chdir old root: %s", strerror(errno));
	do_mount(f, "", ".", "", MS_SLAVE | MS_REC, "");
	if (umount2(".", MNT_DETACH) < 0) bail(f, "detach old root: %s", strerror(errno));
	if (chdir("/") < 0) bail(f, "chdir /: %s", strerror(errno));
	close(oldroot);
	close(newroot);
}

static void mask_path(struct fast *f, const char *path) {
	int rc = mount("/dev/null", path, NULL, MS_BIND, NULL);
	if ((rc < 0 && (errno == ENOTDIR || errno == EISDIR)) || is_dir(path))
		rc = mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k");
	if (rc < 0 && errno != ENOENT) bail(f, "mask %s: %s", path, strerror(errno));
}

static void readonly_path(struct fast *f, const char *path) {
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT) return;
		bail(f, "bind %s read-only: %s", path, strerror(errno));
	}
	remount_ro(f, path);
}

static void write_file(struct fast *f, const char *path, const char *val) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) bail(f, "open %s: %s", path, strerror(errno));
	size_t len = strlen(val);
	if (write(fd, val, len) != (ssize_t)len) bail(f, "write %s to %s: %s", val, path, strerror(errno));
	close(fd);
}

static void loopback_up(struct fast *f) {
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) bail(f, "bring up lo: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) bail(f, "bring up lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) bail(f, "bring up lo: %s", strerror(errno));
	close(fd);
}

// executable is lookPath's check of finalize.go.
static int executable(const char *p) {
	struct stat st;
	return stat(p, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111);
}

// look_path resolves the payload as lookPath does; anything it cannot find
// falls back, so the Go init can say why in its words (and 127/126).
static void look_path(struct fast *f, const char *cwd) {
	static char found[2 * PATH_MAX];
	const char *arg = f->argv[0], *path_env = "";
	if (strchr(arg, '/')) {
		if (arg[0] == '/') snprintf(found, sizeof(found), "%s", arg);
		else snprintf(found, sizeof(found), "%s/%s", cwd, arg);
		if (!executable(found)) bail(f, "exec %s: not an executable file", arg);
		f->path = found;
		return;
	}
	for (char **e = f->envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5)) path_env = *e + 5;
	if (!*path_env) bail(f, "exec %s: no PATH to look it up in", arg);
	for (const char *dir = path_env;;) {
		const char *end = strchr(dir, ':');
		size_t n = end ? (size_t)(end - dir) : strlen(dir);
		if (n == 0) snprintf(found, sizeof(found), "./%s", arg);
		else snprintf(found, sizeof(found), "%.*s/%s", (int)n, dir, arg);
		if (executable(found)) {
			f->path = found;
			return;
		}
		if (!end) break;
		dir = end + 1;
	}
	bail(f, "exec %s: not found in $PATH", arg);
}

// home_of is homeOf of finalize.go: the uid's home in the container's
// /etc/passwd, else "/".
static void home_of(struct fast *f, unsigned long uid) {
	char want[32], *line = NULL;
	size_t cap = 0;
	FILE *pw = fopen("/etc/passwd", "re");
	snprintf(f->home, sizeof(f->home), "HOME=/");
	if (!pw) return;
	snprintf(want, sizeof(want), "%lu", uid);
	while (getline(&line, &cap, pw) >= 0) {
		char *field[7] = {0}, *p = line;
		int n = 0;
		line[strcspn(line, "\n")] = '\0';
		while (n < 7) {
			field[n++] = p;
			if (!(p = strchr(p, ':'))) break;
			*p++ = '\0';
		}
		// as homeOf: the uid field exactly, a non-empty sixth field
		if (n >= 6 && !strcmp(field[2], want) && field[5][0]) {
			snprintf(f->home, sizeof(f->home), "HOME=%s", field[5]);
			break;
		}
	}
	free(line);
	fclose(pw);
}

static int load_filter(struct sock_filter *prog, unsigned short len, unsigned int bits) {
	struct sock_fprog fprog = {.len = len, .filter = prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, bits, &fprog) == 0) return 0;
	if (errno == ENOSYS && bits == 0) return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
	return -1;
}

static int nibble(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static unsigned short read_filter(struct fast *f) {
	const char *h = tok(f);
	size_t n = strlen(h);
	if (n == 0 || n % 16 || n / 16 > sizeof(filter_buf) / sizeof(filter_buf[0])) bail(f, "plan seccomp program of %zu hex digits", n);
	unsigned char *out = (unsigned char *)filter_buf;
	for (size_t i = 0; i < n; i += 2) {
		int hi = nibble(h[i]), lo = nibble(h[i + 1]);
		if (hi < 0 || lo < 0) bail(f, "plan seccomp program: not hex at %zu", i);
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (unsigned short)(n / 16);
}

static void set_caps(struct fast *f, unsigned long long eff, unsigned long long perm, unsigned long long inh) {
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0) bail(f, "set capabilities: %s", strerror(errno));
}

// have_setpcap: whether the calling thread may drop bounding capabilities.
static int have_setpcap(struct fast *f) {
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0) bail(f, "read own capabilities: %s", strerror(errno));
	return (data[0].effective & (1u << CAP_SETPCAP)) != 0;
}

static void run_plan(struct fast *f) {
	char a[2 * PATH_MAX], b[2 * PATH_MAX];
	int have_caps = 0;
	unsigned long long caps[4] = {0}; // effective, permitted, inheritable, ambient
	while (f->pos < f->len) {
		const char *op = tok(f);
		switch (op[0]) {
		case 'n': { // unshare the cgroup namespace (the init is in its cgroup by now)
			if (unshare(CLONE_NEWCGROUP) < 0) bail(f, "unshare cgroup namespace: %s", strerror(errno));
			break;
		}
		case 'p': { // propagation of / : flags
			unsigned long flags = (unsigned long)num(f);
			do_mount(f, "", "/", "", flags, "");
			break;
		}
		case 'v': // bind the rootfs onto itself, its parent mount private
			make_parent_private(f, f->rootfs);
			do_mount(f, f->rootfs, f->rootfs, "", MS_BIND | MS_REC, "");
			break;
		case 'm': { // mount: src, dest (in the rootfs), type, flags, data, mkdir (d|s|-)
			const char *src = tok(f), *dst = tok(f), *type = tok(f);
			unsigned long flags = (unsigned long)num(f);
			const char *data = tok(f), *mk = tok(f);
			resolve_in_root(f, dst, a, sizeof(a));
			if (mk[0] == 'd') mkdir_all(f, a);
			else if (mk[0] == 's') {
				struct stat st;
				if (stat(src, &st) < 0) bail(f, "bind mount %s: source %s: %s", dst, src, strerror(errno));
				mk_target(f, a, S_ISDIR(st.st_mode));
			}
			do_mount(f, src, a, type, flags, data);
			stage(f, "mounted %s on %s", *type ? type : "bind", dst);
			break;
		}
		case 'r': { // remount a bind with more flags, keeping the locked ones: dest, flags
			const char *dst = tok(f);
			unsigned long flags = (unsigned long)num(f);
			struct statfs st;
			resolve_in_root(f, dst, a, sizeof(a));
			if (statfs(a, &st) < 0) bail(f, "statfs %s: %s", a, strerror(errno));
			flags |= (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
			do_mount(f, "", a, "", MS_BIND | MS_REMOUNT | flags, "");
			break;
		}
		case 'R': // remount read-only, in the rootfs
			resolve_in_root(f, tok(f), a, sizeof(a));
			remount_ro(f, a);
			break;
		case 'P': { // propagation of a mount in the rootfs: dest, flags
			const char *dst = tok(f);
			unsigned long flags = (unsigned long)num(f);
			resolve_in_root(f, dst, a, sizeof(a));
			do_mount(f, "", a, "", flags, "");
			break;
		}
		case 'D': { // device: path, kind, major, minor, mode, uid, gid
			const char *path = tok(f);
			mode_t kind = (mode_t)num(f);
			unsigned int major = (unsigned int)num(f), minor = (unsigned int)num(f);
			mode_t mode = (mode_t)num(f);
			uid_t uid = (uid_t)num(f);
			gid_t gid = (gid_t)num(f);
			resolve_in_root(f, path, a, sizeof(a));
			snprintf(b, sizeof(b), "%s", a);
			char *slash = strrchr(b, '/');
			if (slash && slash != b) *slash = '\0', mkdir_all(f, b);
			mode_t old = umask(0);
			unlink(a);
			if (mknod(a, kind | mode, makedev(major, minor)) < 0) bail(f, "mknod %s: %s", path, strerror(errno));
			umask(old);
			if (chown(a, uid, gid) < 0) bail(f, "chown %s: %s", path, strerror(errno));
			break;
		}
		case 'L': { // symlink: target, path in the rootfs; /proc/kcore only when the host has one
			const char *target = tok(f), *path = tok(f);
			struct stat st;
			if (!strcmp(target, "/proc/kcore") && stat("/proc/kcore", &st) < 0) break;
			resolve_in_root(f, path, a, sizeof(a));
			if (symlink(target, a) < 0 && errno != EEXIST) bail(f, "symlink %s -> %s: %s", path, target, strerror(errno));
			break;
		}
		case 'V':
			pivot(f);
			stage(f, "rootfs ready, pivot_root done (C init)");
			break;
		case 'X': // propagation of the new / after pivot_root
			do_mount(f, "", "/", "", (unsigned long)num(f), "");
			break;
		case 'M':
			mask_path(f, tok(f));
			break;
		case 'O':
			readonly_path(f, tok(f));
			break;
		case 'Y':
			remount_ro(f, "/");
			break;
		case 'S': { // sysctl: /proc/sys path, value
			const char *path = tok(f);
			write_file(f, path, tok(f));
			break;
		}
		case 'H': {
			const char *h = tok(f);
			if (sethostname(h, strlen(h)) < 0) bail(f, "sethostname %s: %s", h, strerror(errno));
			break;
		}
		case 'N': {
			const char *d = tok(f);
			if (setdomainname(d, strlen(d)) < 0) bail(f, "setdomainname %s: %s", d, strerror(errno));
			break;
		}
		case 'U':
			loopback_up(f);
			break;
		case 'l': { // the payload: uid (for HOME), cwd, argc, args…, envc, env…
			unsigned long uid = (unsigned long)num(f);
			const char *cwd = tok(f);
			long long argc = num(f), envc;
			int has_home = 0;
			if (argc < 1 || argc > MAX_ARGS) bail(f, "plan argc %lld", argc);
			for (long long i = 0; i < argc; i++) f->argv[i] = tok(f);
			f->argv[argc] = NULL;
			envc = num(f);
			if (envc < 0 || envc > MAX_ARGS) bail(f, "plan envc %lld", envc);
			for (long long i = 0; i < envc; i++) {
				f->envp[i] = tok(f);
				if (!strncmp(f->envp[i], "HOME=", 5)) has_home = 1;
			}
			if (!has_home) {
				home_of(f, uid);
				f->envp[envc++] = f->home;
			}
			f->envp[envc] = NULL;
			stage(f, "masked and read-only paths, hostname, sysctls done (C init)");
			look_path(f, cwd);
			stage(f, "payload %s found", f->path);
			break;
		}
		case 'F': { // every fd above stdio and the preserved ones closes on exec
			unsigned int first = 3 + (unsigned int)num(f);
			if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) bail(f, "close fds: %s", strerror(errno));
			break;
		}
		case 'A':
			write_file(f, "/proc/self/oom_score_adj", tok(f));
			break;
		case 'T': { // rlimit: resource, soft, hard
			int res = (int)num(f);
			struct rlimit rl;
			rl.rlim_cur = (rlim_t)strtoull(tok(f), NULL, 10);
			rl.rlim_max = (rlim_t)strtoull(tok(f), NULL, 10);
			if (setrlimit(res, &rl) < 0) bail(f, "setrlimit %d: %s", res, strerror(errno));
			break;
		}
		case 'W':
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) bail(f, "set no_new_privs: %s", strerror(errno));
			break;
		case 'Z': { // seccomp now (no no_new_privs: needs CAP_SYS_ADMIN, which the user switch drops)
			unsigned int bits = (unsigned int)hex(f);
			unsigned short n = read_filter(f);
			if (load_filter(filter_buf, n, bits) < 0) bail(f, "load seccomp filter: %s", strerror(errno));
			stage(f, "seccomp filter of %u instructions loaded", n);
			break;
		}
		case 'z': // seccomp right before execve (with no_new_privs)
			f->late_bits = (unsigned int)hex(f);
			f->late_len = read_filter(f);
			f->late_filter = filter_buf;
			break;
		case 'C': { // capabilities: bounding, effective, permitted, inheritable, ambient
			unsigned long long bounding = hex(f);
			for (int i = 0; i < 4; i++) caps[i] = hex(f);
			// As the Go init (runtime/internal/caps, after moby/sys/capability):
			// without CAP_SETPCAP every drop would fail, so none is tried, and
			// EINVAL (a capability this kernel does not know) is no failure.
			int may_drop = have_setpcap(f);
			for (int c = 0; c < 64 && may_drop; c++) {
				if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) {
					if (errno == EINVAL) break; // past the kernel's last capability
					bail(f, "read bounding capability %d: %s", c, strerror(errno));
				}
				if (!(bounding & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
					bail(f, "drop bounding capability %d: %s", c, strerror(errno));
			}
			if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) bail(f, "keep capabilities across setuid: %s", strerror(errno));
			have_caps = 1;
			break;
		}
		case 'u': { // user: uid, gid, ngroups, groups…
			uid_t uid = (uid_t)num(f);
			gid_t gid = (gid_t)num(f);
			long long ng = num(f);
			static gid_t groups[65536];
			if (ng < 0 || ng > 65536) bail(f, "plan ngroups %lld", ng);
			for (long long i = 0; i < ng; i++) groups[i] = (gid_t)num(f);
			if (setgroups((size_t)ng, groups) < 0) bail(f, "setgroups: %s", strerror(errno));
			if (syscall(SYS_setresgid, gid, gid, gid) < 0) bail(f, "setgid %u: %s", gid, strerror(errno));
			if (syscall(SYS_setresuid, uid, uid, uid) < 0) bail(f, "setuid %u: %s", uid, strerror(errno));
			if (have_caps) {
				prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
				set_caps(f, caps[0], caps[1], caps[2]);
				if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
					bail(f, "clear ambient capabilities: %s", strerror(errno));
				for (int c = 0; c < 64; c++)
					if ((caps[3] & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EINVAL)
						bail(f, "raise ambient capability %d: %s", c, strerror(errno));
			}
			break;
		}
		case 'c': { // cwd
			const char *cwd = tok(f);
			if (chdir(cwd) < 0) bail(f, "chdir to cwd %s: %s", cwd, strerror(errno));
			break;
		}
		case 'k':
			umask((mode_t)num(f));
			break;
		case 'x': { // ready; wait for start; exec
			char fifo[64];
			if (!f->path) bail(f, "plan execs before it names the payload");
			stage(f, "user set, capabilities dropped (C init)");
			if (send_msg(f->sync, "{\"type\":\"ready\"}", 16) < 0) die("tell parent ready: %s", strerror(errno));
			close(f->sync);
			if (f->fifo >= 0) {
				snprintf(fifo, sizeof(fifo), "/proc/self/fd/%d", f->fifo);
				int fd = open(fifo, O_WRONLY | O_CLOEXEC);
				if (fd < 0) die("open exec fifo: %s", strerror(errno));
				if (write(fd, "", 1) != 1) die("write exec fifo: %s", strerror(errno));
				close(f->fifo);
			}
			if (f->late_filter && load_filter(f->late_filter, f->late_len, f->late_bits) < 0)
				die("load seccomp filter: %s", strerror(errno));
			stage(f, "execve %s", f->path);
			execve(f->path, f->argv, f->envp);
			die("exec %s: %s", f->argv[0], strerror(errno));
		}
		case 'G': // the parent gave up on this spec after starting us
			bail(f, "%s", tok(f));
		default:
			bail(f, "unknown plan op %s", op);
		}
	}
	bail(f, "plan ends without exec");
}

// pcr_fastinit runs when _PCR_FASTINIT is set, after the nsenter part has
// joined what it was asked to. It never returns.
void pcr_fastinit(void) {
	struct fast f = {.sync = getenv_fd("_PCR_SYNCFD"), .fifo = getenv_fd("_PCR_FIFOFD"), .trace = getenv_fd("_PCR_TRACEFD")};
	ssize_t n;
	if (f.sync < 0) die("fast init without _PCR_SYNCFD");
	do n = recv(f.sync, plan_buf, sizeof(plan_buf), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) _exit(1); // the parent is gone
	f.plan = plan_buf;
	f.len = (size_t)n;
	if (f.len < 6 || memcmp(f.plan, "PLAN", 5)) bail(&f, "expected a plan");
	f.pos = 5;
	f.rootfs = tok(&f);
	f.trace_start = num(&f);
	f.trace_last = now_ns();
	stage(&f, "plan received (C init: init running in its namespaces)");
	run_plan(&f);
}
