//go:build linux && !cgo

package nsenter

// Without cgo nothing would act on the environment Env builds, and a process
// meant for a container's namespaces would run in the caller's; Env refuses.
const constructorLinked = false
