// Package jsonlite reads and writes JSON without reflection, for the
// binaries that start on every container operation. encoding/json, once
// linked, adds half a megabyte of code and tables to pcr-oci, and this
// kernel maps a binary's pages 64 KiB at a time, so most of it becomes
// resident on every run.
//
// Parse reads a document into maps, slices, strings, exact numbers,
// booleans and nil; the Append functions write values and objects.
package jsonlite

// Parse is a strict JSON (RFC 8259) parser into maps, slices, strings,
// numbers (as Number, exact), booleans and nil: what encoding/json
// gives for `any` with UseNumber, without its reflection-driven decoder.
// Like encoding/json, it keeps the last of duplicate keys and turns
// invalid UTF-8 in strings into U+FFFD; parse_test.go checks it
// against encoding/json on valid and invalid documents.

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Number is a number as written, checked against JSON's grammar.
type Number string

// maxDepth bounds nesting, as encoding/json does (10000), so a hostile
// document cannot exhaust the stack.
const maxDepth = 10000

type parser struct {
	data  []byte
	pos   int
	depth int
}

func Parse(data []byte) (any, error) {
	p := &parser{data: data}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, p.errorf("data after the top-level value")
	}
	return v, nil
}

func (p *parser) errorf(what string) error {
	return errors.New("invalid JSON at offset " + strconv.Itoa(p.pos) + ": " + what)
}

func (p *parser) unexpected(context string) error {
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of input " + context)
	}
	return p.errorf("unexpected " + strconv.QuoteRune(rune(p.data[p.pos])) + " " + context)
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.space()
	if p.pos >= len(p.data) {
		return nil, p.unexpected("looking for a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.unexpected("looking for a value")
}

func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		for i := 0; i < len(word) && p.pos < len(p.data) && p.data[p.pos] == word[i]; i++ {
			p.pos++
		}
		return p.unexpected("in literal " + word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) nest() error {
	if p.depth++; p.depth > maxDepth {
		return p.errorf("nested too deeply")
	}
	return nil
}

func (p *parser) object() (any, error) {
	m, err := p.members("", nil)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// members reads an object at p.pos (its opening brace); when keep is
// not empty, *raw gets that member's bytes as written (nil for null).
func (p *parser) members(keep string, raw *[]byte) (map[string]any, error) {
	if err := p.nest(); err != nil {
		return nil, err
	}
	p.pos++ // {
	m := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return m, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.unexpected("looking for an object key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.unexpected("after an object key")
		}
		p.pos++
		p.space()
		start := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		if keep != "" && k == keep {
			*raw = nil
			if v != nil {
				*raw = append([]byte(nil), p.data[start:p.pos]...)
			}
		}
		if more, ok := p.separator('}'); !ok {
			return nil, p.unexpected("after an object value")
		} else if !more {
			return m, nil
		}
	}
}

// separator reads what follows a member or an element: a comma (more
// follow) or close (the end of the object or array); !ok for anything else.
func (p *parser) separator(close byte) (more, ok bool) {
	p.space()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			return true, true
		case close:
			p.pos++
			p.depth--
			return false, true
		}
	}
	return false, false
}

func (p *parser) array() (any, error) {
	if err := p.nest(); err != nil {
		return nil, err
	}
	p.pos++ // [
	a := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if more, ok := p.separator(']'); !ok {
			return nil, p.unexpected("after an array element")
		} else if !more {
			return a, nil
		}
	}
}

func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if p.digits() == 0 {
		return nil, p.unexpected("in a number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.unexpected("after a decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.unexpected("in an exponent")
		}
	}
	return Number(p.data[start:p.pos]), nil
}

// str reads a string at p.pos (its opening quote).
func (p *parser) str() (string, error) {
	p.pos++ // "
	start := p.pos
	// The common case: no escapes, all ASCII or valid UTF-8.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character " + strconv.QuoteRune(rune(c)) + " in a string")
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			buf = utf8.AppendRune(buf, r) // RuneError for invalid bytes, as encoding/json
			p.pos += size
		}
	}
	return "", p.errorf("unexpected end of input in a string")
}

// escape reads one escape sequence at p.pos (its backslash).
func (p *parser) escape() (rune, error) {
	p.pos++
	if p.pos >= len(p.data) {
		return 0, p.errorf("unexpected end of input in a string escape")
	}
	c := p.data[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return 0, p.errorf("bad \\u escape in a string")
		}
		if utf16.IsSurrogate(r) {
			// A pair makes one rune; a lone half is U+FFFD, as encoding/json has it.
			save := p.pos
			if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				p.pos += 2
				if r2, ok := p.hex4(); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						return dec, nil
					}
				}
			}
			p.pos = save
			return utf8.RuneError, nil
		}
		return r, nil
	}
	p.pos--
	return 0, p.errorf("bad escape " + strconv.QuoteRune(rune(c)) + " in a string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// ParseObjectRaw parses data, which must be an object, and also returns
// the bytes of its member keep as they were written (nil when absent or
// null): a part passed on to another reader unchanged.
func ParseObjectRaw(data []byte, keep string) (map[string]any, []byte, error) {
	p := &parser{data: data}
	p.space()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return nil, nil, p.unexpected("looking for an object")
	}
	var raw []byte
	members, err := p.members(keep, &raw)
	if err != nil {
		return nil, nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, nil, p.errorf("data after the top-level value")
	}
	return members, raw, nil
}
