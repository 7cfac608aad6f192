package monitor

// The --init feature: the engine bind-mounts bin/pcr read-only at InitPath
// inside the container and runs process.args = [InitPath, "--", CMD...] with
// InitEnv=1 in process.env. The constructor in init.c then acts as a minimal
// PID 1 (like tini): it runs CMD as its only child, forwards every signal to
// it, reaps every zombie, and exits with CMD's status (128+N when CMD was
// killed by signal N; 127 when CMD is not found, 126 when it cannot run).
const (
	InitEnv  = "_PCR_INIT"
	InitPath = "/dev/init"
)
