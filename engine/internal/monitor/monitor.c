// The detached-container monitor and its helper-side half. Both run as ELF
// constructors before the Go runtime starts, so a monitor costs a few hundred
// KiB of memory instead of a Go process. The protocol is documented in
// monitor_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_FD 3 // pipe to Start, in the monitor and the helper
#define SOCK_FD 4   // the helper's end of the seqpacket socket to the monitor
#define DRAIN_MS 1000 // after the init's exit, how long other holders of the pipes may keep them
#define MAX_REAPED 32
#define TS_SIZE 96 // an RFC 3339 time with nanoseconds, with room gcc can prove

extern char **environ;

// A stream's bytes not yet logged; lines longer than buf become P entries.
struct stream {
	int fd;
	const char *name;
	size_t len;
	char buf[32768];
};

struct monitor {
	int logfd, sock, tty;
	pid_t helper, init;
	int init_done, init_status;
	char finished[TS_SIZE]; // timestamp of the init's reaping
	struct stream out, err;
	// Children reaped before the helper named the init: the init may exit,
	// and be reparented and reaped, before its pid is read from the socket.
	struct { pid_t pid; int status; } reaped[MAX_REAPED];
	unsigned nreaped;
};

static void write_all(int fd, const char *b, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return;
		b += w, n -= (size_t)w;
	}
}

// fail tells Start why the monitor could not start (one "error ..." line on
// the report pipe) and exits.
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof(line), "error monitor: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	write_all(REPORT_FD, line, strlen(line));
	_exit(1);
}

// high moves fd to 10 or above, close-on-exec, so the helper's dup2s onto
// 0-4 never overwrite one another's sources.
static int high(int fd, const char *what) {
	int h;
	if (fd < 0) fail("%s: %s", what, strerror(errno));
	if ((h = fcntl(fd, F_DUPFD_CLOEXEC, 10)) < 0) fail("dup %s: %s", what, strerror(errno));
	close(fd);
	return h;
}

// put_num writes v as exactly width decimal digits.
static char *put_num(char *p, unsigned long v, int width) {
	for (int i = width - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
	return p + width;
}

// timestamp formats the time now as RFC 3339 UTC with nanoseconds. Not with
// gmtime_r and snprintf: on the logging path they would fault in pages of
// libc worth a third of the monitor's memory. The date is Howard Hinnant's
// days-to-civil algorithm (for times after 1970).
static void timestamp(char out[TS_SIZE]) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long secs = (unsigned long)ts.tv_sec % 86400, z = (unsigned long)ts.tv_sec / 86400 + 719468;
	unsigned long era = z / 146097, doe = z - era * 146097;
	unsigned long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	unsigned long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
	char *p = put_num(out, yoe + era * 400 + (month <= 2), 4);
	*p++ = '-', p = put_num(p, month, 2), *p++ = '-', p = put_num(p, day, 2);
	*p++ = 'T', p = put_num(p, secs / 3600, 2), *p++ = ':', p = put_num(p, secs / 60 % 60, 2);
	*p++ = ':', p = put_num(p, secs % 60, 2), *p++ = '.', p = put_num(p, (unsigned long)ts.tv_nsec, 9);
	*p++ = 'Z', *p = '\0';
}

// log_entry appends "<time> <stream> <F|P> <text>\n" in one write, so
// O_APPEND keeps entries whole.
static void log_entry(struct monitor *m, const char *ts, struct stream *s, char tag, char *text, size_t len) {
	char head[TS_SIZE + 16], *p = head;
	size_t n = strlen(ts), name = strlen(s->name);
	memcpy(p, ts, n), p += n, *p++ = ' ';
	memcpy(p, s->name, name), p += name;
	*p++ = ' ', *p++ = tag, *p++ = ' ';
	struct iovec iov[3] = {{head, (size_t)(p - head)}, {text, len}, {"\n", 1}};
	while (writev(m->logfd, iov, 3) < 0 && errno == EINTR);
}

static void flush_partial(struct monitor *m, struct stream *s) {
	char ts[TS_SIZE];
	if (s->len == 0) return;
	timestamp(ts);
	log_entry(m, ts, s, 'P', s->buf, s->len);
	s->len = 0;
}

// pump logs what s->fd has to offer: every complete line as F, a full buffer
// without a newline as P; at EOF (or EIO: a pty whose slave side is gone) it
// logs the rest as P and closes the stream.
static void pump(struct monitor *m, struct stream *s) {
	char ts[TS_SIZE], *p, *end, *nl;
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
	if (n <= 0) {
		flush_partial(m, s);
		close(s->fd);
		s->fd = -1;
		return;
	}
	timestamp(ts);
	s->len += (size_t)n;
	end = s->buf + s->len;
	for (p = s->buf; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) log_entry(m, ts, s, 'F', p, (size_t)(nl - p));
	s->len = (size_t)(end - p);
	if (s->len == sizeof(s->buf)) {
		log_entry(m, ts, s, 'P', p, s->len);
		s->len = 0;
	} else if (p != s->buf) {
		memmove(s->buf, p, s->len);
	}
}

static void init_reaped(struct monitor *m, int status) {
	m->init_done = 1;
	m->init_status = status;
	timestamp(m->finished);
}

// take_report reads the helper's message: the init's pid, and with a
// terminal the pty master.
static void take_report(struct monitor *m, int flags) {
	char buf[32], *end;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec iov = {buf, sizeof(buf) - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
	ssize_t n = recvmsg(m->sock, &msg, flags | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
	if (n <= 0) { // the helper is gone
		close(m->sock);
		m->sock = -1;
		return;
	}
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
		int fd;
		memcpy(&fd, CMSG_DATA(h), sizeof(fd));
		if (m->tty && m->out.fd < 0) m->out.fd = fd;
		else close(fd);
	}
	buf[n] = '\0';
	long pid = strtol(buf, &end, 10);
	if (*end || pid <= 0 || pid > INT_MAX || m->init > 0) return;
	m->init = (pid_t)pid;
	for (unsigned i = 0; i < MAX_REAPED && i < m->nreaped; i++)
		if (m->reaped[i].pid == m->init) init_reaped(m, m->reaped[i].status);
}

// drain logs what the pipes still hold, for at most ms milliseconds: once
// the init is gone, processes that escaped it may hold the pipes forever.
static void drain(struct monitor *m, int ms) {
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int pass = 0; (m->out.fd >= 0 || m->err.fd >= 0) && (ms > 0 || pass < 16); pass++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd p[2] = {{m->out.fd, POLLIN, 0}, {m->err.fd, POLLIN, 0}};
		if (left < 0) left = 0;
		int n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		if (p[0].revents) pump(m, &m->out);
		if (p[1].revents) pump(m, &m->err);
	}
	flush_partial(m, &m->out);
	flush_partial(m, &m->err);
}

static void default_signals(void) {
	sigset_t none;
	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL), signal(SIGHUP, SIG_DFL), signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

// reap collects every exited child. The helper's end without a reported pid
// ends the monitor; the init's end ends the loop.
static void reap(struct monitor *m) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->helper) {
			m->helper = 0;
			if (m->sock >= 0) take_report(m, MSG_DONTWAIT); // sent just before it exited
			if (m->init <= 0) {
				char line[128];
				drain(m, 0); // a helper's panic is in the log
				if (WIFEXITED(status))
					snprintf(line, sizeof(line), "error start helper exited with status %d\n", WEXITSTATUS(status));
				else
					snprintf(line, sizeof(line), "error start helper killed by signal %d\n", WTERMSIG(status));
				write_all(REPORT_FD, line, strlen(line));
				_exit(0);
			}
			close(REPORT_FD);
			// The init is ours now, alive or a zombie; ECHILD means the
			// helper reaped it itself and its status is lost.
			int st;
			pid_t w = m->init_done ? 0 : waitpid(m->init, &st, WNOHANG);
			if (w == m->init) init_reaped(m, st);
			else if (w < 0 && errno == ECHILD) init_reaped(m, 255 << 8);
		} else if (pid == m->init) {
			init_reaped(m, status);
		} else {
			m->reaped[m->nreaped % MAX_REAPED].pid = pid;
			m->reaped[m->nreaped % MAX_REAPED].status = status;
			m->nreaped++;
		}
	}
}

static void record_exit(struct monitor *m, const char *dir) {
	char path[PATH_MAX], tmp[PATH_MAX], json[TS_SIZE + 80];
	int st = m->init_status, sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + sig;
	int n = snprintf(json, sizeof(json), "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\"}\n", code, sig, m->finished);
	snprintf(path, sizeof(path), "%s/exit.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/exit.json.tmp", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) return;
	write_all(fd, json, (size_t)n);
	close(fd);
	if (rename(tmp, path) < 0) unlink(tmp);
}

static void run_monitor(const char *dir_env, int argc, char **argv) __attribute__((noreturn));
static void run_monitor(const char *dir_env, int argc, char **argv) {
	static struct monitor m; // 64 KiB of buffers: off the stack, in bss the monitor alone touches
	const char *opts = getenv("_PCR_MONITOR_OPTS");
	char dir[PATH_MAX - 32], path[PATH_MAX], *end = NULL;
	int out[2] = {-1, -1}, err[2] = {-1, -1}, sv[2], devnull, sigfd;
	sigset_t chld;

	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) _exit(1); // nobody to tell
	// Whatever else the engine left open (a lock, a socket) must not stay
	// held for the container's lifetime by the monitor, helper or container.
	if (syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0U) < 0)
		for (int fd = REPORT_FD + 1; fd < 1024; fd++) close(fd);
	long nstart = opts ? strtol(opts, &end, 10) : 0;
	if (nstart < 1 || nstart > argc - 1 || (*end && strcmp(end, ",tty"))) fail("bad _PCR_MONITOR_OPTS");
	if (strlen(dir_env) >= sizeof(dir) || dir_env[0] != '/') fail("bad container directory");
	strcpy(dir, dir_env);
	// This process never returns to Go, so unsetenv's reshuffling of the
	// environment is harmless here; the helper and cleanup must not see them.
	unsetenv("_PCR_MONITOR");
	unsetenv("_PCR_MONITOR_OPTS");
	m.tty = *end != '\0';
	m.out = (struct stream){.fd = -1, .name = "stdout"};
	m.err = (struct stream){.fd = -1, .name = "stderr"};
	snprintf(path, sizeof(path), "%s/container.log", dir);
	m.logfd = high(open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640), path);

	// SIGTERM is ignored rather than blocked: a blocked one would stay
	// pending across the cleanup's execve and kill it.
	signal(SIGPIPE, SIG_IGN), signal(SIGHUP, SIG_IGN), signal(SIGINT, SIG_IGN), signal(SIGTERM, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigfd = high(signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd");

	pid_t pid = fork();
	if (pid < 0) fail("fork: %s", strerror(errno));
	if (pid > 0) _exit(0);
	setsid();
	if (chdir("/") < 0) fail("chdir /: %s", strerror(errno)); // pin no mount for the container's lifetime
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("become subreaper: %s", strerror(errno));
	if (!m.tty) {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
		m.out.fd = high(out[0], "pipe"), out[1] = high(out[1], "pipe");
		m.err.fd = high(err[0], "pipe"), err[1] = high(err[1], "pipe");
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) fail("socketpair: %s", strerror(errno));
	m.sock = high(sv[0], "socket"), sv[1] = high(sv[1], "socket");
	devnull = high(open("/dev/null", O_RDWR | O_CLOEXEC), "/dev/null");

	if ((m.helper = fork()) < 0) fail("fork: %s", strerror(errno));
	if (m.helper == 0) {
		if (dup2(devnull, 0) < 0 || dup2(m.tty ? devnull : out[1], 1) < 0 || dup2(m.tty ? devnull : err[1], 2) < 0 ||
		    dup2(sv[1], SOCK_FD) < 0 || fcntl(REPORT_FD, F_SETFD, 0) < 0)
			fail("set up start helper: %s", strerror(errno));
		default_signals();
		setenv("_PCR_MONITOR_REPORT", "1", 1);
		argv[1 + nstart] = NULL; // the cleanup argv follows the helper's
		execv("/proc/self/exe", argv + 1);
		fail("exec start helper: %s", strerror(errno));
	}
	close(devnull), close(sv[1]);
	if (!m.tty) close(out[1]), close(err[1]);

	while (!m.init_done) {
		struct pollfd p[4] = {{sigfd, POLLIN, 0}, {m.sock, POLLIN, 0}, {m.out.fd, POLLIN, 0}, {m.err.fd, POLLIN, 0}};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR) continue;
			_exit(1);
		}
		if (p[1].revents) take_report(&m, 0);
		if (p[2].revents) pump(&m, &m.out);
		if (p[3].revents) pump(&m, &m.err);
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) > 0);
			reap(&m);
		}
	}
	drain(&m, DRAIN_MS);
	record_exit(&m, dir);

	// The cleanup is an ordinary process: not a subreaper, default signals.
	while (waitpid(-1, NULL, WNOHANG) > 0);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	default_signals();
	char **cleanup = argv + 1 + nstart;
	if (cleanup[0]) execv("/proc/self/exe", cleanup);
	_exit(cleanup[0] ? 127 : 0);
}

// blank_env removes a variable from a process that goes on to run Go, which
// finds the auxiliary vector right after the original envp array: the array
// must keep its length (nsenter.c does the same).
static void blank_env(const char *name) {
	size_t len = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') memset(*e, 0, strlen(*e));
}

__attribute__((constructor)) static void pcr_monitor(int argc, char **argv) {
	const char *dir = getenv("_PCR_MONITOR");
	if (dir) run_monitor(dir, argc, argv);
	// The start helper: what it starts (the container) must not inherit
	// the report pipe and the monitor's socket.
	if (getenv("_PCR_MONITOR_REPORT")) {
		fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
		fcntl(SOCK_FD, F_SETFD, FD_CLOEXEC);
		blank_env("_PCR_MONITOR_REPORT");
	}
}
