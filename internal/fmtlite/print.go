//go:build !fmtlitevet

package fmtlite

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sprintf formats according to format, as fmt.Sprintf does.
func Sprintf(format string, a ...any) string {
	var p printer
	p.printf(format, a)
	return string(p.buf)
}

// Errorf formats according to format and returns the string as an error,
// as fmt.Errorf does: an operand of %w is wrapped (Unwrap returns it, or
// all of them when there are several), and without %w the error is a
// plain errors.New.
func Errorf(format string, a ...any) error {
	p := printer{wrapping: true}
	p.printf(format, a)
	msg := string(p.buf)
	switch len(p.wrapped) {
	case 0:
		return errors.New(msg)
	case 1:
		return &wrapError{msg: msg, err: p.wrapped[0]}
	default:
		return &wrapErrors{msg: msg, errs: p.wrapped}
	}
}

// Fprintf formats according to format and writes to w, as fmt.Fprintf does.
func Fprintf(w io.Writer, format string, a ...any) (int, error) {
	var p printer
	p.printf(format, a)
	return w.Write(p.buf)
}

// Fprintln writes its operands as %v does, separated by spaces and ended
// by a newline, as fmt.Fprintln does.
func Fprintln(w io.Writer, a ...any) (int, error) {
	p := printer{spec: spec{verb: 'v'}}
	for i, arg := range a {
		if i > 0 {
			p.buf = append(p.buf, ' ')
		}
		p.operand(arg, 'v')
	}
	p.buf = append(p.buf, '\n')
	return w.Write(p.buf)
}

// Println writes to standard output as Fprintln does.
func Println(a ...any) (int, error) { return Fprintln(os.Stdout, a...) }

type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

type wrapErrors struct {
	msg  string
	errs []error
}

func (e *wrapErrors) Error() string   { return e.msg }
func (e *wrapErrors) Unwrap() []error { return e.errs }

// stringer is fmt.Stringer, named here so as not to import fmt.
type stringer interface{ String() string }

// spec is one parsed verb with its flags.
type spec struct {
	minus, zero, sharp, space, plus bool
	widthSet, precSet               bool
	width, prec                     int
	verb                            rune
}

type printer struct {
	buf      []byte
	wrapping bool // Errorf: %w wraps
	wrapped  []error
	spec     spec
}

func (p *printer) printf(format string, a []any) {
	argi := 0
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			j := i + 1
			for j < len(format) && format[j] != '%' {
				j++
			}
			p.buf = append(p.buf, format[i:j]...)
			i = j
			continue
		}
		i++
		var s spec
	flags:
		for ; i < len(format); i++ {
			switch format[i] {
			case '-':
				s.minus = true
			case '0':
				s.zero = true
			case '#':
				s.sharp = true
			case ' ':
				s.space = true
			case '+':
				s.plus = true
			default:
				break flags
			}
		}
		if i < len(format) && format[i] == '[' {
			// Explicit argument indexes (%[2]d) are not supported: say so,
			// and go on with the next operand.
			p.buf = append(p.buf, "%!(BADINDEX)"...)
			if j := strings.IndexByte(format[i:], ']'); j >= 0 {
				i += j + 1
			} else {
				i = len(format)
			}
		}
		if i < len(format) && format[i] == '*' {
			s.width, s.widthSet, argi = intArg(a, argi)
			i++
			if !s.widthSet {
				p.buf = append(p.buf, "%!(BADWIDTH)"...)
			}
			if s.width < 0 { // a negative width means left-justify
				s.minus, s.width = true, -s.width
			}
		} else {
			s.width, s.widthSet, i = parseNum(format, i)
		}
		if i+1 < len(format) && format[i] == '.' {
			i++
			if format[i] == '*' {
				s.prec, s.precSet, argi = intArg(a, argi)
				i++
				if s.prec < 0 {
					s.prec, s.precSet = 0, false
				}
				if !s.precSet {
					p.buf = append(p.buf, "%!(BADPREC)"...)
				}
			} else {
				s.prec, _, i = parseNum(format, i)
				s.precSet = true // "%.s": precision 0
			}
		}
		if i >= len(format) {
			p.buf = append(p.buf, "%!(NOVERB)"...)
			break
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size
		s.verb = verb
		if verb == '%' {
			p.buf = append(p.buf, '%')
			continue
		}
		if argi >= len(a) {
			p.buf = append(p.buf, '%', '!')
			p.buf = utf8.AppendRune(p.buf, verb)
			p.buf = append(p.buf, "(MISSING)"...)
			continue
		}
		p.spec = s
		p.padded(a[argi], verb)
		argi++
	}
	if argi < len(a) {
		p.buf = append(p.buf, "%!(EXTRA "...)
		for j, arg := range a[argi:] {
			if j > 0 {
				p.buf = append(p.buf, ", "...)
			}
			p.buf = append(p.buf, typeName(arg)...)
			p.buf = append(p.buf, '=')
			p.spec = spec{verb: 'v'}
			p.operand(arg, 'v')
		}
		p.buf = append(p.buf, ')')
	}
}

// maxWidth is fmt's limit on widths and precisions.
const maxWidth = 1e6

// intArg takes a '*' width or precision from a[argi]: any integer type, as
// fmt takes it; ok is false when it is not one or is out of range.
func intArg(a []any, argi int) (n int, ok bool, next int) {
	if argi >= len(a) {
		return 0, false, argi
	}
	switch v := reflect.ValueOf(a[argi]); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok = int(v.Int()), v.Int() >= -maxWidth && v.Int() <= maxWidth
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok = int(v.Uint()), v.Uint() <= maxWidth
	}
	if !ok {
		n = 0
	}
	return n, ok, argi + 1
}

// parseNum reads the digits of a width or precision at format[i:].
func parseNum(format string, i int) (n int, ok bool, next int) {
	for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
		if n = n*10 + int(format[i]-'0'); n > maxWidth {
			return 0, false, len(format) // as fmt: the verb is lost
		}
		ok = true
	}
	return n, ok, i
}

// padded formats one operand and pads it to the width.
func (p *printer) padded(arg any, verb rune) {
	start := len(p.buf)
	p.operand(arg, verb)
	s := p.spec
	n := utf8.RuneCount(p.buf[start:])
	if !s.widthSet || s.width <= n {
		return
	}
	pad := s.width - n
	if s.minus {
		for ; pad > 0; pad-- {
			p.buf = append(p.buf, ' ')
		}
		return
	}
	fill := byte(' ')
	at := start
	if s.zero && isNumberVerb(verb) {
		fill = '0'
		if at < len(p.buf) && (p.buf[at] == '-' || p.buf[at] == '+' || p.buf[at] == ' ') {
			at++ // zeros go after the sign
		}
	}
	p.buf = append(p.buf, make([]byte, pad)...)
	copy(p.buf[at+pad:], p.buf[at:len(p.buf)-pad])
	for j := at; j < at+pad; j++ {
		p.buf[j] = fill
	}
}

func isNumberVerb(verb rune) bool { return verb == 'd' || verb == 'x' || verb == 'X' }

// operand formats arg for verb, without padding.
func (p *printer) operand(arg any, verb rune) {
	if verb == 'w' {
		err, ok := arg.(error)
		if !ok || err == nil || !p.wrapping {
			p.bad(arg, verb)
			return
		}
		p.wrapped = append(p.wrapped, err)
		verb = 'v'
	}
	if arg == nil {
		if verb == 'v' {
			p.buf = append(p.buf, "<nil>"...)
		} else {
			p.bad(arg, verb)
		}
		return
	}
	// As fmt: the string verbs use an operand's Error or String method.
	switch verb {
	case 'v', 's', 'q', 'x', 'X':
		switch v := arg.(type) {
		case error:
			p.method(arg, "Error", v.Error, verb)
			return
		case stringer:
			p.method(arg, "String", v.String, verb)
			return
		}
	}
	switch v := arg.(type) {
	case string:
		p.str(v, verb)
	case []byte:
		if verb == 'v' || verb == 'd' {
			p.list(reflect.ValueOf(v), verb)
		} else {
			p.str(string(v), verb)
		}
	case bool:
		if verb != 'v' && verb != 't' {
			p.bad(arg, verb)
			return
		}
		p.buf = strconv.AppendBool(p.buf, v)
	case int:
		p.integer(uint64(v), v < 0, verb, arg)
	case int64:
		p.integer(uint64(v), v < 0, verb, arg)
	case int32:
		p.integer(uint64(v), v < 0, verb, arg)
	case uint64:
		p.integer(v, false, verb, arg)
	case uint32:
		p.integer(uint64(v), false, verb, arg)
	case uint:
		p.integer(uint64(v), false, verb, arg)
	case uintptr:
		p.integer(uint64(v), false, verb, arg)
	case []string:
		listOf(p, v, verb)
	case []error:
		listOf(p, v, verb)
	default:
		p.value(arg, reflect.ValueOf(arg), verb)
	}
}

// method formats what an Error or String method returns. As in fmt, a
// nil pointer whose method panics prints as <nil>, and any other panic
// as %!v(PANIC=String method: ...), rather than taking the process down.
func (p *printer) method(arg any, name string, call func() string, verb rune) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if v := reflect.ValueOf(arg); v.Kind() == reflect.Pointer && v.IsNil() {
			p.buf = append(p.buf, "<nil>"...)
			return
		}
		p.buf = append(p.buf, '%', '!')
		p.buf = utf8.AppendRune(p.buf, verb)
		p.buf = append(p.buf, "(PANIC="...)
		p.buf = append(p.buf, name...)
		p.buf = append(p.buf, " method: "...)
		saved := p.spec
		p.spec = spec{verb: 'v'}
		p.operand(r, 'v')
		p.spec = saved
		p.buf = append(p.buf, ')')
	}()
	p.str(call(), verb)
}

// value formats what the type switch did not name: named basic types and
// slices of them. It never calls Value.Interface, which would link
// reflect's method-call machinery (12 KB) into every binary that prints;
// so elements of other slice types print by kind, not through their
// String methods.
func (p *printer) value(arg any, v reflect.Value, verb rune) {
	switch v.Kind() {
	case reflect.String:
		p.str(v.String(), verb)
	case reflect.Bool:
		if verb != 'v' && verb != 't' {
			p.bad(arg, verb)
			return
		}
		p.buf = strconv.AppendBool(p.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		p.integer(uint64(n), n < 0, verb, arg)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.integer(v.Uint(), false, verb, arg)
	case reflect.Float32, reflect.Float64:
		if verb != 'v' {
			p.bad(arg, verb)
			return
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		p.buf = strconv.AppendFloat(p.buf, v.Float(), 'g', -1, bits)
	case reflect.Slice, reflect.Array:
		p.list(v, verb)
	case reflect.Pointer:
		if v.IsNil() {
			p.buf = append(p.buf, "<nil>"...)
			return
		}
		p.unsupported(v, verb)
	default:
		p.unsupported(v, verb)
	}
}

// unsupported stands for a pointer, struct, map, func or channel: nothing
// pcr formats, and more than this package takes on. It says what it was.
// (Value.Pointer, for one, would link reflect's method-call machinery.)
func (p *printer) unsupported(v reflect.Value, verb rune) {
	p.buf = append(p.buf, '%', '!')
	p.buf = utf8.AppendRune(p.buf, verb)
	p.buf = append(p.buf, '(')
	p.buf = append(p.buf, v.Type().String()...)
	p.buf = append(p.buf, ')')
}

// list formats a slice or array as fmt does: [a b c], each element with
// the same verb.
func (p *printer) list(v reflect.Value, verb rune) {
	if (verb == 'x' || verb == 'X') && v.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, v.Len()) // an array's Bytes needs it addressable
		for i := range b {
			b[i] = byte(v.Index(i).Uint())
		}
		p.str(string(b), verb)
		return
	}
	p.buf = append(p.buf, '[')
	for i := 0; i < v.Len(); i++ {
		if i > 0 {
			p.buf = append(p.buf, ' ')
		}
		p.value(nil, v.Index(i), verb)
	}
	p.buf = append(p.buf, ']')
}

// listOf formats elems as fmt formats a slice, each element through
// operand (and so through its Error or String method).
func listOf[T any](p *printer, elems []T, verb rune) {
	p.buf = append(p.buf, '[')
	for i, e := range elems {
		if i > 0 {
			p.buf = append(p.buf, ' ')
		}
		p.operand(e, verb)
	}
	p.buf = append(p.buf, ']')
}

// str formats a string for a string verb.
func (p *printer) str(s string, verb rune) {
	switch verb {
	case 'v', 's':
		if p.spec.precSet {
			s = truncate(s, p.spec.prec)
		}
		p.buf = append(p.buf, s...)
	case 'q':
		if p.spec.precSet {
			s = truncate(s, p.spec.prec)
		}
		switch {
		case p.spec.sharp && strconv.CanBackquote(s):
			p.buf = append(p.buf, '`')
			p.buf = append(p.buf, s...)
			p.buf = append(p.buf, '`')
		case p.spec.plus:
			p.buf = strconv.AppendQuoteToASCII(p.buf, s)
		default:
			p.buf = strconv.AppendQuote(p.buf, s)
		}
	case 'x', 'X':
		digits := lowerHex
		if verb == 'X' {
			digits = upperHex
		}
		for i := 0; i < len(s); i++ {
			if i > 0 && p.spec.space {
				p.buf = append(p.buf, ' ')
			}
			if p.spec.sharp && (i == 0 || p.spec.space) {
				p.buf = append(p.buf, '0', byte(verb))
			}
			p.buf = append(p.buf, digits[s[i]>>4], digits[s[i]&0xf])
		}
	default:
		p.bad(s, verb)
	}
}

const (
	lowerHex = "0123456789abcdef"
	upperHex = "0123456789ABCDEF"
)

// integer formats arg, the integer whose two's complement bits are u.
func (p *printer) integer(u uint64, negative bool, verb rune, arg any) {
	switch verb {
	case 'd', 'v':
		switch {
		case negative:
			p.buf = strconv.AppendInt(p.buf, int64(u), 10)
			return
		case p.spec.plus:
			p.buf = append(p.buf, '+')
		case p.spec.space:
			p.buf = append(p.buf, ' ')
		}
		p.buf = strconv.AppendUint(p.buf, u, 10)
	case 'x', 'X':
		if negative {
			p.buf = append(p.buf, '-')
			u = -u
		}
		if p.spec.sharp {
			p.buf = append(p.buf, '0', byte(verb))
		}
		start := len(p.buf)
		p.buf = strconv.AppendUint(p.buf, u, 16)
		if verb == 'X' {
			for i := start; i < len(p.buf); i++ {
				if c := p.buf[i]; c >= 'a' && c <= 'f' {
					p.buf[i] = c - 'a' + 'A'
				}
			}
		}
	case 'q':
		p.buf = strconv.AppendQuoteRune(p.buf, rune(u))
	case 'c':
		p.buf = utf8.AppendRune(p.buf, rune(u))
	default:
		p.bad(arg, verb)
	}
}

// bad writes fmt's complaint about a verb that does not fit its operand:
// %!d(string=hello).
func (p *printer) bad(arg any, verb rune) {
	p.buf = append(p.buf, '%', '!')
	p.buf = utf8.AppendRune(p.buf, verb)
	p.buf = append(p.buf, '(')
	if arg == nil {
		p.buf = append(p.buf, "<nil>"...)
	} else {
		p.buf = append(p.buf, typeName(arg)...)
		p.buf = append(p.buf, '=')
		saved := p.spec
		p.spec = spec{verb: 'v'}
		p.operand(arg, 'v')
		p.spec = saved
	}
	p.buf = append(p.buf, ')')
}

func typeName(arg any) string {
	if arg == nil {
		return "<nil>"
	}
	return reflect.TypeOf(arg).String()
}

// truncate keeps the first n runes of s.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
