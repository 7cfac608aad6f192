package ocicli

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"pcr/internal/fmtlite"
)

// The runtime parses its own command line: runc's grammar is small (global
// flags, a verb, the verb's flags, then arguments), and a CLI library would
// cost every `pcr-oci run` its init and a third of the binary's pages.

// flagKind is what a flag's value is.
type flagKind int

const (
	boolFlag     flagKind = iota
	stringFlag            // one value; the last given wins
	intFlag               // a decimal integer
	durationFlag          // a Go duration: 500ms, 5s
	listFlag              // repeatable; each value appended
)

// flag is one option: names[0] is the long name it is looked up by, the
// rest are aliases (one letter: -x).
type flag struct {
	names  []string
	kind   flagKind
	value  string // the default
	env    string // an environment variable that sets the default
	usage  string
	hidden bool
}

// command is one verb.
type command struct {
	name      string
	aliases   []string
	usage     string
	argsUsage string
	flags     []flag
	run       func(c *ctx) error
}

// values holds the parsed flags of one level (global or a verb's).
type values struct {
	flags []flag
	one   map[string]string
	list  map[string][]string
	set   map[string]bool
}

// parseFlags reads the flags at the front of args, up to the first argument
// that is not a flag or up to "--", which is dropped. It returns the values
// and the arguments left.
func parseFlags(flags []flag, args []string) (*values, []string, error) {
	v := &values{flags: flags, one: map[string]string{}, list: map[string][]string{}, set: map[string]bool{}}
	for _, f := range flags {
		v.one[f.names[0]] = f.value
		if f.env != "" {
			if e, ok := os.LookupEnv(f.env); ok && e != "" {
				if f.kind != boolFlag {
					v.one[f.names[0]] = e
				} else if b, err := strconv.ParseBool(e); err == nil {
					v.one[f.names[0]] = strconv.FormatBool(b) // PCR_TRACE=1
				}
			}
		}
	}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return v, args[1:], nil
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(flags, name)
		if f == nil {
			return nil, nil, fmtlite.Errorf("flag provided but not defined: %s", a)
		}
		key := f.names[0]
		if f.kind == boolFlag {
			if !hasVal {
				val = "true"
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, nil, fmtlite.Errorf("%s: %q is not true or false", a, val)
			}
			v.one[key], v.set[key] = strconv.FormatBool(b), true
			continue
		}
		if !hasVal {
			if len(args) == 0 {
				return nil, nil, fmtlite.Errorf("flag needs an argument: %s", a)
			}
			val, args = args[0], args[1:]
		}
		switch f.kind {
		case intFlag:
			if _, err := strconv.Atoi(val); err != nil {
				return nil, nil, fmtlite.Errorf("%s: %q is not an integer", a, val)
			}
		case durationFlag:
			if _, err := time.ParseDuration(val); err != nil {
				return nil, nil, fmtlite.Errorf("%s: %q is not a duration (e.g. 5s)", a, val)
			}
		case listFlag:
			v.list[key] = append(v.list[key], val)
		}
		v.one[key], v.set[key] = val, true
	}
	return v, args, nil
}

func lookupFlag(flags []flag, name string) *flag {
	for i := range flags {
		for _, n := range flags[i].names {
			if n == name {
				return &flags[i]
			}
		}
	}
	return nil
}

// String is a flag's value, its default when not given.
func (v *values) String(name string) string { return v.one[name] }

// Bool is a boolean flag's value.
func (v *values) Bool(name string) bool { return v.one[name] == "true" }

// Int is an integer flag's value (checked when parsed).
func (v *values) Int(name string) int {
	n, _ := strconv.Atoi(v.one[name])
	return n
}

// Duration is a duration flag's value (checked when parsed).
func (v *values) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(v.one[name])
	return d
}

// List is every value a repeatable flag was given, in order.
func (v *values) List(name string) []string { return v.list[name] }

// IsSet tells whether the flag was on the command line.
func (v *values) IsSet(name string) bool { return v.set[name] }

// printFlags writes the flags' help, one per line, aligned.
func printFlags(w io.Writer, flags []flag) {
	type row struct{ left, right string }
	var rows []row
	width := 0
	for _, f := range flags {
		if f.hidden {
			continue
		}
		var names []string
		for _, n := range f.names {
			if len(n) == 1 {
				names = append(names, "-"+n)
			} else {
				names = append(names, "--"+n)
			}
		}
		left := strings.Join(names, ", ")
		if f.kind != boolFlag {
			left += " value"
		}
		right := f.usage
		if f.value != "" && f.kind != boolFlag {
			right += fmtlite.Sprintf(" (default: %s)", f.value)
		}
		if f.env != "" {
			right += " [$" + f.env + "]"
		}
		rows = append(rows, row{left, right})
		width = max(width, len(left))
	}
	for _, r := range rows {
		fmtlite.Fprintf(w, "   %-*s  %s\n", width, r.left, r.right)
	}
}
