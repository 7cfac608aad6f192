//go:build linux && !cgo

package nsenter

// Without cgo nothing would act on the environment Env builds in a re-exec of
// this binary: a process meant for a container's namespaces would run in the
// caller's. Such a binary (bin/pcr-oci) re-execs bin/pcr-init, which has it.
const ConstructorLinked = false
