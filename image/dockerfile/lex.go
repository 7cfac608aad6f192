package dockerfile

import (
	"fmt"
	"strings"
	"unicode"
)

// Lexer expands variables and removes quotes in an instruction's words, the
// way Docker's builder does for FROM, COPY, ADD, ENV, LABEL, ARG, WORKDIR,
// USER, EXPOSE, VOLUME and STOPSIGNAL (RUN, CMD and ENTRYPOINT are left to
// the shell).
//
// Supported: $VAR, ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word},
// ${VAR+word}, ${VAR:?msg}, ${VAR?msg}; single quotes are literal, double
// quotes expand, the escape character makes the next one literal.
type Lexer struct {
	Escape rune
}

// Lookup returns a variable's value and whether it is set.
type Lookup func(name string) (string, bool)

// Word expands and unquotes one word; whitespace in it is kept.
func (l Lexer) Word(s string, env Lookup) (string, error) {
	p := &lexState{rs: []rune(s), esc: l.escape(), env: env}
	out, err := p.process(0)
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", s, err)
	}
	return out, nil
}

// Words expands and unquotes s and splits it on whitespace outside quotes.
func (l Lexer) Words(s string, env Lookup) ([]string, error) {
	words, err := splitWords(s, l.escape())
	if err != nil {
		return nil, fmt.Errorf("expand %q: %w", s, err)
	}
	out := make([]string, 0, len(words))
	for _, w := range words {
		x, err := l.Word(w, env)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (l Lexer) escape() rune {
	if l.Escape == 0 {
		return '\\'
	}
	return l.Escape
}

type lexState struct {
	rs  []rune
	pos int
	esc rune
	env Lookup
}

// process reads until the end, or until an unquoted stop rune (not consumed).
func (p *lexState) process(stop rune) (string, error) {
	var out strings.Builder
	for p.pos < len(p.rs) {
		r := p.rs[p.pos]
		if stop != 0 && r == stop {
			return out.String(), nil
		}
		switch {
		case r == p.esc:
			p.pos++
			if p.pos < len(p.rs) {
				out.WriteRune(p.rs[p.pos])
				p.pos++
			} else {
				out.WriteRune(r)
			}
		case r == '\'':
			p.pos++
			end := p.pos
			for end < len(p.rs) && p.rs[end] != '\'' {
				end++
			}
			if end == len(p.rs) {
				return "", fmt.Errorf("unterminated ' quote")
			}
			out.WriteString(string(p.rs[p.pos:end]))
			p.pos = end + 1
		case r == '"':
			s, err := p.doubleQuoted()
			if err != nil {
				return "", err
			}
			out.WriteString(s)
		case r == '$':
			s, err := p.variable()
			if err != nil {
				return "", err
			}
			out.WriteString(s)
		default:
			out.WriteRune(r)
			p.pos++
		}
	}
	if stop != 0 {
		return "", fmt.Errorf("missing %c", stop)
	}
	return out.String(), nil
}

func (p *lexState) doubleQuoted() (string, error) {
	var out strings.Builder
	p.pos++ // the opening quote
	for p.pos < len(p.rs) {
		r := p.rs[p.pos]
		switch {
		case r == '"':
			p.pos++
			return out.String(), nil
		case r == p.esc && p.pos+1 < len(p.rs):
			next := p.rs[p.pos+1]
			if next == '"' || next == '$' || next == p.esc {
				out.WriteRune(next)
				p.pos += 2
				continue
			}
			out.WriteRune(r)
			p.pos++
		case r == '$':
			s, err := p.variable()
			if err != nil {
				return "", err
			}
			out.WriteString(s)
		default:
			out.WriteRune(r)
			p.pos++
		}
	}
	return "", fmt.Errorf("unterminated \" quote")
}

// variable expands the reference at p.pos (a '$').
func (p *lexState) variable() (string, error) {
	p.pos++ // '$'
	if p.pos >= len(p.rs) {
		return "$", nil
	}
	if p.rs[p.pos] != '{' {
		name := p.name()
		if name == "" {
			return "$", nil // a lone $ is literal
		}
		v, _ := p.env(name)
		return v, nil
	}
	p.pos++ // '{'
	name := p.name()
	if name == "" {
		return "", fmt.Errorf("bad substitution: ${ needs a variable name")
	}
	if p.pos >= len(p.rs) {
		return "", fmt.Errorf("bad substitution: missing }")
	}
	value, set := p.env(name)
	if p.rs[p.pos] == '}' {
		p.pos++
		return value, nil
	}
	colon := false
	if p.rs[p.pos] == ':' {
		colon = true
		p.pos++
		if p.pos >= len(p.rs) {
			return "", fmt.Errorf("bad substitution: missing }")
		}
	}
	op := p.rs[p.pos]
	if op != '-' && op != '+' && op != '?' {
		return "", fmt.Errorf("bad substitution: unsupported modifier %q in ${%s…}", op, name)
	}
	p.pos++
	word, err := p.process('}')
	if err != nil {
		return "", fmt.Errorf("bad substitution in ${%s…}: %w", name, err)
	}
	p.pos++ // '}'
	// With the colon an empty value counts as unset, as in sh.
	present := set && (!colon || value != "")
	switch op {
	case '-':
		if present {
			return value, nil
		}
		return word, nil
	case '+':
		if present {
			return word, nil
		}
		return "", nil
	default: // '?'
		if present {
			return value, nil
		}
		if word == "" {
			word = "is not set"
		}
		return "", fmt.Errorf("%s: %s", name, word)
	}
}

func (p *lexState) name() string {
	start := p.pos
	for p.pos < len(p.rs) {
		r := p.rs[p.pos]
		if r == '_' || unicode.IsLetter(r) || (p.pos > start && unicode.IsDigit(r)) {
			p.pos++
			continue
		}
		break
	}
	return string(p.rs[start:p.pos])
}
