//go:build linux && !cgo

package monitor

// Without cgo neither the monitor nor the init constructor is linked; Start
// refuses rather than exec a binary that would run its Go main instead.
const constructorLinked = false
