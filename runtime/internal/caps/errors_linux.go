package caps

import "strconv"

// Error is a capability operation the kernel refused: what was attempted,
// on which capability (when one), and the errno, which errors.Is sees.
type Error struct {
	Op  string // "drop from the bounding set", "raise in the ambient set", ...
	Cap int    // the capability, or -1 when the operation is on whole sets
	Err error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Cap >= 0 {
		s += " " + displayName(e.Cap)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// displayName is Name for messages: a capability a newer kernel knows and
// this package does not still gets a readable label.
func displayName(c int) string {
	if n := Name(c); n != "" {
		return n
	}
	return "capability " + strconv.Itoa(c)
}
