// peakrss [-o FILE] CMD [ARG...]: runs CMD, follows every process and thread
// it makes under ptrace, and writes the largest VmHWM (KiB) that any of them
// had when it exited to FILE (standard output without -o), then exits with
// CMD's status.
//
// Why not getrusage's maxrss (GNU time's %M): the kernel fills it in at exit
// from RSS counters it keeps per CPU, read without summing them. For a
// single-threaded C runtime that is exact; for a multi-threaded Go one it
// comes out 150-300 KiB low, in steps of 128 KiB. /proc/PID/status sums the
// counters, so VmHWM read in the exit stop, with the address space still
// whole, is the true peak. A process that execs is measured in the program
// it ends as (its address space before the exec is gone by then); a vfork
// child shares its parent's and so counts with it.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static long hwm_kib(pid_t tid) {
	char path[64], line[256];
	long kib = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int main(int argc, char **argv) {
	const char *out = NULL;
	if (argc > 2 && strcmp(argv[1], "-o") == 0) {
		out = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: peakrss [-o FILE] CMD [ARG...]\n");
		return 2;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("peakrss: fork");
		return 1;
	}
	if (child == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) {
			perror("peakrss: PTRACE_TRACEME");
			_exit(127);
		}
		raise(SIGSTOP);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "peakrss: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	int status;
	if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) {
		fprintf(stderr, "peakrss: the child did not stop for tracing\n");
		return 1;
	}
	long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT |
		    PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SETOPTIONS, child, 0, opts) < 0 || ptrace(PTRACE_CONT, child, 0, 0) < 0) {
		perror("peakrss: ptrace");
		return 1;
	}
	long peak = 0;
	int code = 1;
	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break; // ECHILD: every traced task is gone
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == child)
				code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status), event = status >> 16;
		if (event == PTRACE_EVENT_EXIT) {
			long kib = hwm_kib(tid);
			if (kib > peak)
				peak = kib;
		}
		// Event stops, the exec SIGTRAP and the SIGSTOP a new tracee starts
		// with are the tracer's own: not passed on.
		if (event || sig == SIGTRAP || sig == SIGSTOP)
			sig = 0;
		ptrace(PTRACE_CONT, tid, 0, sig);
	}
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "peakrss: %s: %s\n", out, strerror(errno));
		return 1;
	}
	fprintf(f, "%ld\n", peak);
	if (f != stdout)
		fclose(f);
	return code;
}
