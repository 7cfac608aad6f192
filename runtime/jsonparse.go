package runtime

// parseJSON is a strict JSON (RFC 8259) parser into maps, slices, strings,
// numbers (as jsonNumber, exact), booleans and nil: what encoding/json
// gives for `any` with UseNumber, without its reflection-driven decoder.
// `pcr-oci run` decodes its config and its init's replies with it, and
// never runs encoding/json: that code and the type data it walks stay out
// of the process's pages.
// Like encoding/json, it keeps the last of duplicate keys and turns
// invalid UTF-8 in strings into U+FFFD; jsonparse_test.go checks it
// against encoding/json on valid and invalid documents.

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonNumber is a number as written, checked against JSON's grammar.
type jsonNumber string

// jsonMaxDepth bounds nesting, as encoding/json does (10000), so a hostile
// document cannot exhaust the stack.
const jsonMaxDepth = 10000

type jsonParser struct {
	data  []byte
	pos   int
	depth int
}

func parseJSON(data []byte) (any, error) {
	p := &jsonParser{data: data}
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

func (p *jsonParser) errorf(what string) error {
	return errors.New("invalid JSON at offset " + strconv.Itoa(p.pos) + ": " + what)
}

func (p *jsonParser) unexpected(context string) error {
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of input " + context)
	}
	return p.errorf("unexpected " + strconv.QuoteRune(rune(p.data[p.pos])) + " " + context)
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (any, error) {
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

func (p *jsonParser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		for i := 0; i < len(word) && p.pos < len(p.data) && p.data[p.pos] == word[i]; i++ {
			p.pos++
		}
		return p.unexpected("in literal " + word)
	}
	p.pos += len(word)
	return nil
}

func (p *jsonParser) nest() error {
	if p.depth++; p.depth > jsonMaxDepth {
		return p.errorf("nested too deeply")
	}
	return nil
}

func (p *jsonParser) object() (any, error) {
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
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.space()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case '}':
				p.pos++
				p.depth--
				return m, nil
			}
		}
		return nil, p.unexpected("after an object value")
	}
}

func (p *jsonParser) array() (any, error) {
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
		p.space()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case ']':
				p.pos++
				p.depth--
				return a, nil
			}
		}
		return nil, p.unexpected("after an array element")
	}
}

func (p *jsonParser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

func (p *jsonParser) number() (any, error) {
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
	return jsonNumber(p.data[start:p.pos]), nil
}

// str reads a string at p.pos (its opening quote).
func (p *jsonParser) str() (string, error) {
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
func (p *jsonParser) escape() (rune, error) {
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

func (p *jsonParser) hex4() (rune, bool) {
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
