//go:build linux && cgo

// Package monitor keeps detached containers observable after the engine that
// started them has exited, without a resident Go process per container.
//
// Two small C programs live in this package and run as ELF constructors in
// every binary that imports it (bin/pcr, this package's test binary), before
// the Go runtime starts; each does nothing unless its environment variable
// is set, so an ordinary run pays one getenv per program.
//
// The monitor (monitor.c, triggered by _PCR_MONITOR=<dir>) is started by
// Start. It double-forks and setsid()s, becomes a child subreaper, runs the
// start helper (the engine's own binary, which creates and starts the
// container through package runtime), collects the container's stdout and
// stderr (or its pty master) into LogPath(dir), reaps the container's init
// once the helper has exited and it was reparented, writes dir/exit.json and
// then execs the cleanup command. It never starts Go: a few hundred KiB of
// resident memory instead of a Go runtime's several MiB.
//
// Protocol between Start, the monitor and the helper:
//
//	Start      exec /proc/self/exe, argv = ["pcr-monitor", StartArgs..., CleanupArgs...],
//	           env  = Env + _PCR_MONITOR=<dir> + _PCR_MONITOR_OPTS=<len(StartArgs)>[,tty],
//	           fds  0-2 /dev/null, 3 the write end of the report pipe.
//	monitor    forks (the first process exits 0 for Start to reap), setsid, subreaper;
//	           helper = fork + exec /proc/self/exe StartArgs with fds 0 /dev/null,
//	           1/2 the log pipes (tty: /dev/null), 3 the report pipe, 4 a seqpacket
//	           socket to the monitor, _PCR_MONITOR_REPORT=1 and the monitor's own
//	           variables removed.
//	helper     (its constructor marks fds 3 and 4 close-on-exec, so the container
//	           never inherits them) ReportStarted: "PID" (+ the pty master by
//	           SCM_RIGHTS) on fd 4, then "ok PID\n" on fd 3; or ReportFailed:
//	           "error MSG\n" on fd 3. Then it exits.
//	monitor    when the helper exits without having sent a pid: "error start helper
//	           exited with status N\n" on fd 3, and the monitor exits (no exit record;
//	           the engine cleans up). Otherwise it closes fd 3 and waits for the init.
//
// Start returns at the first line on the report pipe.
//
// After ReportStarted the helper must exit without waiting for the
// container: its init is reparented to the monitor, which reaps it. If the
// helper reaps it anyway, its status is lost and the record says 255.
package monitor

// #cgo CFLAGS: -Wall -Wextra -Wno-missing-field-initializers
import "C"

const constructorLinked = true
