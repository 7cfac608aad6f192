// pcr's --init: a minimal PID 1 (like tini) run as an ELF constructor, so it
// never starts Go. The engine bind-mounts bin/pcr at /dev/init and runs
// [/dev/init, --, CMD...] (or [/dev/init, --idle]) with _PCR_INIT=1; see init.go.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INIT_PATH "/dev/init"
#define IDLE_ARG "--idle"

static void run_init(char **cmd) __attribute__((noreturn));
static void run_init(char **cmd) {
	sigset_t all, old;
	int status;
	pid_t pid, child;

	// Everything is blocked, then taken with sigwaitinfo: a PID 1 has no
	// default actions for signals sent from inside its namespace, but blocked
	// ones are still queued, so none is lost or silently dropped.
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((child = fork()) < 0) {
		dprintf(2, "pcr-init: fork: %s\n", strerror(errno));
		_exit(125);
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		int e = errno;
		if (e == ENOENT || e == ENOTDIR) {
			dprintf(2, "pcr-init: exec %s: not found\n", cmd[0]);
			_exit(127);
		}
		dprintf(2, "pcr-init: exec %s: %s\n", cmd[0], strerror(e));
		_exit(126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0) continue; // EINTR
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		// Orphans in the container are reparented to us: reap them all,
		// leave with the command's status once it is among them.
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == child) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

// run_idle is PID 1 of a container that runs nothing of its own (a
// vserver entered with exec): it reaps whatever is orphaned to it, forever,
// and leaves with 0 on the signals a stop or a Ctrl-C sends, so that stop
// does not wait out its timeout (the kernel then kills what is left).
static void run_idle(void) __attribute__((noreturn));
static void run_idle(void) {
	sigset_t all;
	int status;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) _exit(0);
		if (sig == SIGCHLD)
			while (waitpid(-1, &status, WNOHANG) > 0) {
			}
	}
}

__attribute__((constructor)) static void pcr_init(int argc, char **argv) {
	const char *on = getenv("_PCR_INIT");
	int cmd;
	if (!on || strcmp(on, "1") != 0 || argc < 2) return;
	if (strcmp(argv[1], IDLE_ARG) == 0) {
		unsetenv("_PCR_INIT");
		run_idle();
	}
	if (strcmp(argv[1], "--") == 0) cmd = 2;
	else if (strcmp(argv[0], INIT_PATH) == 0) cmd = 1;
	else return;
	// Neither side of the fork returns to Go, so unsetenv is safe; the
	// command must not see the variable (a pcr inside would act on it).
	unsetenv("_PCR_INIT");
	if (cmd >= argc) {
		dprintf(2, "pcr-init: no command given\n");
		_exit(125);
	}
	run_init(argv + cmd);
}
