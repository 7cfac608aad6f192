package monitor

// The --init feature: the engine bind-mounts bin/pcr read-only at InitPath
// inside the container and runs process.args = [InitPath, "--", CMD...] with
// InitEnv=1 in process.env. The constructor in init.c then acts as a minimal
// PID 1 (like tini): it runs CMD as its only child, forwards every signal to
// it, reaps every zombie, and exits with CMD's status (128+N when CMD was
// killed by signal N; 127 when CMD is not found, 126 when it cannot run).
//
// With process.args = [InitPath, IdleArg] it runs nothing: it reaps every
// orphan (of processes exec'd into the container) until SIGTERM, SIGINT or
// SIGHUP, then exits 0.
const (
	InitEnv  = "_PCR_INIT"
	InitPath = "/dev/init"
	IdleArg  = "--idle"
)

// InitLinked says whether this binary carries init.c's constructor (a cgo
// build): only then does exec'ing it with InitEnv=1 run the C init.
const InitLinked = constructorLinked
