// The namespace-joining half of pcr's re-exec: runs as an ELF constructor,
// before the Go runtime has started any thread, because setns(2) into a user
// namespace (or a mount namespace while the fs struct is shared) is refused to
// a multi-threaded process. The protocol is documented in nsenter_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

extern char **environ;

static const struct { const char *name; int flag; } ns_types[] = {
	{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},       {"net", CLONE_NEWNET},
	{"uts", CLONE_NEWUTS},   {"ipc", CLONE_NEWIPC},      {"pid", CLONE_NEWPID},
	{"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
};
#define MAX_JOINS (sizeof(ns_types) / sizeof(ns_types[0]))

struct join { const char *type; const char *path; int flag; int fd; };

// Signal forwarding in the waiting parent; a handler can only reach it
// through a static.
static volatile pid_t forward_to;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void write_all(int fd, const char *buf, size_t len) {
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return;
		buf += n, len -= (size_t)n;
	}
}

// fail reports "nsenter: <msg>" as a JSON line on the sync fd (or plainly on
// stderr) and exits; the process never reaches Go.
static void fail(int syncfd, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int syncfd, const char *fmt, ...) {
	char msg[1024], line[4096];
	size_t n = 0;
	va_list ap;
	int len = snprintf(msg, sizeof(msg), "nsenter: ");
	va_start(ap, fmt);
	vsnprintf(msg + len, sizeof(msg) - (size_t)len, fmt, ap);
	va_end(ap);
	if (syncfd < 0) {
		write_all(2, msg, strlen(msg));
		write_all(2, "\n", 1);
		_exit(1);
	}
	n = (size_t)snprintf(line, sizeof(line), "{\"type\":\"error\",\"error\":\"");
	for (const unsigned char *p = (const unsigned char *)msg; *p && n < sizeof(line) - 16; p++) {
		if (*p == '"' || *p == '\\') line[n++] = '\\', line[n++] = (char)*p;
		else if (*p < 0x20) n += (size_t)snprintf(line + n, 7, "\\u%04x", *p);
		else line[n++] = (char)*p;
	}
	memcpy(line + n, "\"}\n", 3);
	write_all(syncfd, line, n + 3);
	_exit(1);
}

// blank_env removes a variable without unsetenv(3): that shifts the envp
// array in place, and Go finds the auxiliary vector by walking past the
// envp NULL, so a shifted array hides auxv from the runtime. An empty string
// keeps the layout; Go's syscall.Environ and getenv(3) both skip it.
static void blank_env(const char *name) {
	size_t len = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') memset(*e, 0, strlen(*e));
}

static void forward(int sig) {
	if (forward_to > 0) kill(forward_to, sig);
}

// wait_and_exit makes the parent side of the fork a transparent stand-in for
// the child: signals go through, the child's status comes back.
static void wait_and_exit(pid_t child, const sigset_t *oldmask) {
	struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
	int status;
	forward_to = child;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR) _exit(1);
	if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
	int sig = WTERMSIG(status);
	struct rlimit nocore = {0, 0};
	setrlimit(RLIMIT_CORE, &nocore); // the child already dumped, if anything
	signal(sig, SIG_DFL);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	_exit(128 + sig);
}

// parse_fd reads one fd number that must be open in this process.
static int parse_fd(const char *s, char **end) {
	long fd = strtol(s, end, 10);
	if (*end == s || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) return -1;
	return (int)fd;
}

static int sync_fd(void) {
	const char *env = getenv("_PCR_SYNCFD");
	char *end;
	int fd;
	if (!env || !*env) return -1;
	if ((fd = parse_fd(env, &end)) < 0 || *end) fail(-1, "bad _PCR_SYNCFD %s", env);
	return fd;
}

// join_cgroup moves this process, still one thread, into its cgroup: "0"
// written to a v1 tasks file moves the writing thread without the global
// threadgroup lock, whose write side waits for an RCU grace period. The
// parent opened the files and passed them as the fds in _PCR_CGROUP_FDS.
static void join_cgroup(void) {
	const char *env = getenv("_PCR_CGROUP_FDS");
	char *end;
	if (!env || !*env) return;
	int syncfd = sync_fd();
	for (const char *p = env;; p = end + 1) {
		int fd = parse_fd(p, &end);
		if (fd < 0 || (*end && *end != ',')) fail(syncfd, "bad _PCR_CGROUP_FDS %s", env);
		if (write(fd, "0", 1) != 1) fail(syncfd, "join cgroup (fd %d): %s", fd, strerror(errno));
		close(fd);
		if (!*end) break;
	}
	blank_env("_PCR_CGROUP_FDS");
}

static void nsenter_joins(void) {
	const char *spec_env = getenv("_PCR_NSENTER"), *unshare_env = getenv("_PCR_UNSHARE");
	struct join joins[MAX_JOINS];
	size_t njoins = 0;
	char spec[4096];
	unsigned long unshare_flags = 0;
	int need_fork = 0;
	char *end;

	if (!spec_env && !unshare_env) return;
	int syncfd = sync_fd();

	if (unshare_env && *unshare_env) {
		errno = 0;
		unshare_flags = strtoul(unshare_env, &end, 10);
		if (errno || *end) fail(syncfd, "bad _PCR_UNSHARE %s", unshare_env);
		if (unshare_flags & CLONE_NEWUSER) fail(syncfd, "unshare: user namespaces must be created by the parent");
	}
	if (spec_env && *spec_env) {
		if (strlen(spec_env) >= sizeof(spec)) fail(syncfd, "_PCR_NSENTER too long");
		strcpy(spec, spec_env);
		for (char *entry = spec, *next; entry; entry = next) {
			char *colon;
			size_t t;
			if ((next = strchr(entry, ','))) *next++ = '\0';
			if (!(colon = strchr(entry, ':')) || colon[1] == '\0') fail(syncfd, "bad entry \"%s\" (want TYPE:PATH)", entry);
			*colon = '\0';
			for (t = 0; t < MAX_JOINS && strcmp(entry, ns_types[t].name); t++);
			if (t == MAX_JOINS) fail(syncfd, "unknown namespace type \"%s\"", entry);
			for (size_t j = 0; j < njoins; j++)
				if (joins[j].flag == ns_types[t].flag) fail(syncfd, "namespace type %s given twice", entry);
			joins[njoins++] = (struct join){ns_types[t].name, colon + 1, ns_types[t].flag, -1};
		}
	}

	// Open everything first: once in the target mount namespace, a
	// /proc/<pid>/ns path may resolve differently or not at all.
	for (size_t i = 0; i < njoins; i++)
		if ((joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC)) < 0)
			fail(syncfd, "open %s %s: %s", joins[i].type, joins[i].path, strerror(errno));

	// User first: it grants the capabilities the other joins are checked
	// against. Joining our own user namespace is EINVAL, so skip that case.
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < njoins; i++) {
			struct join *j = &joins[i];
			if ((pass == 0) != (j->flag == CLONE_NEWUSER)) continue;
			if (j->flag == CLONE_NEWUSER) {
				struct stat cur, target;
				if (stat("/proc/self/ns/user", &cur) == 0 && fstat(j->fd, &target) == 0 &&
				    cur.st_dev == target.st_dev && cur.st_ino == target.st_ino) {
					close(j->fd);
					continue;
				}
			}
			if (setns(j->fd, j->flag) < 0) fail(syncfd, "setns %s %s: %s", j->type, j->path, strerror(errno));
			close(j->fd);
			if (j->flag == CLONE_NEWUSER) {
				// setns keeps our host ids, which the joined namespace does
				// not map: files we create would fail with EOVERFLOW and
				// exec would drop every capability. Become its root, as a
				// process made there would be. setgroups may be denied there.
				if (setgroups(0, NULL) < 0 && errno != EPERM)
					fail(syncfd, "setgroups in user namespace %s: %s", j->path, strerror(errno));
				if (setresgid(0, 0, 0) < 0)
					fail(syncfd, "setgid 0 in user namespace %s: %s (is gid 0 mapped?)", j->path, strerror(errno));
				if (setresuid(0, 0, 0) < 0)
					fail(syncfd, "setuid 0 in user namespace %s: %s (is uid 0 mapped?)", j->path, strerror(errno));
			}
			// setns(CLONE_NEWPID) only moves future children; a joined
			// time namespace takes effect at once.
			if (j->flag == CLONE_NEWPID) need_fork = 1;
		}
	}
	if (unshare_flags) {
		if (unshare((int)unshare_flags) < 0) fail(syncfd, "unshare 0x%lx: %s", unshare_flags, strerror(errno));
		if (unshare_flags & (CLONE_NEWPID | CLONE_NEWTIME)) need_fork = 1;
	}
	blank_env("_PCR_NSENTER");
	blank_env("_PCR_UNSHARE");
	if (!need_fork) return;

	// The child must not run Go before the parent has written the pid line,
	// or the caller could read the child's messages first.
	int gate[2];
	sigset_t all, oldmask;
	if (pipe2(gate, O_CLOEXEC) < 0) fail(syncfd, "pipe: %s", strerror(errno));
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &oldmask); // no signal lost before the handlers exist
	pid_t child = fork();
	if (child < 0) fail(syncfd, "fork: %s", strerror(errno));
	if (child == 0) {
		char c;
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		close(gate[1]);
		while (read(gate[0], &c, 1) < 0 && errno == EINTR);
		close(gate[0]);
		return;
	}
	close(gate[0]);
	if (syncfd >= 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "{\"type\":\"pid\",\"pid\":%d}\n", (int)child);
		write_all(syncfd, line, (size_t)n);
	}
	close(gate[1]);
	// Keep nothing open the caller may be waiting to see closed (the sync
	// fd, fifos, sockets); stdio stays for whoever shares it.
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int fd = 3; fd < 1024; fd++) close(fd);
	wait_and_exit(child, &oldmask);
}

void pcr_fastinit(void); // fastinit.c

// The constructor: joins and unshares first (in a forked child when a pid
// namespace asks for it; the forking parent never returns), then joins the
// cgroup, then, when the caller sent a plan for it, the whole container init
// in C.
// close_exe_fd drops the fd of the sealed binary this process was exec'd
// from as /proc/self/fd/N (the mapping keeps the file), and gives back the
// name exec took from that path, N, for ps and /proc/<pid>/comm.
static void close_exe_fd(void) {
	const char *env = getenv("_PCR_EXEFD");
	char *end;
	int fd;
	if (!env || !*env) return;
	if ((fd = parse_fd(env, &end)) < 0 || *end) fail(sync_fd(), "bad _PCR_EXEFD %s", env);
	close(fd);
	prctl(PR_SET_NAME, "pcr-init", 0, 0, 0);
	blank_env("_PCR_EXEFD");
}

__attribute__((constructor)) static void pcr_nsenter(void) {
	close_exe_fd();
	nsenter_joins();
	join_cgroup(); // after the fork: the stand-in parent stays out
	const char *fast = getenv("_PCR_FASTINIT");
	if (fast && *fast) pcr_fastinit();
}
