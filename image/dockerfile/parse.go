// Package dockerfile reads Dockerfiles: Parse splits one into instructions
// (continuations joined, comments and parser directives dropped, each
// instruction's arguments in the shape its keyword takes), and Lexer expands
// $VAR, ${VAR} and ${VAR:-default} in their words as the builder runs them.
// It knows nothing of images or containers.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode"
)

// Instruction is one Dockerfile instruction.
type Instruction struct {
	// Cmd is the keyword, upper case: FROM, RUN, COPY, …
	Cmd string
	// Line is the 1-based line the instruction starts on.
	Line int
	// Original is the instruction as written, continuation lines joined.
	Original string
	// Flags are the leading --name=value options (COPY --chown=1:1).
	Flags map[string]string
	// JSON tells that Args came from the exec form (["a", "b"]).
	JSON bool
	// Args are the arguments in the shape the keyword takes:
	//   RUN, CMD, ENTRYPOINT, SHELL: the JSON array, or one element holding
	//     the shell-form command line as written (a shell expands it, not us);
	//   ENV, LABEL, ARG: one "key=value" word per pair, quotes still in
	//     (Lexer.Word removes them while expanding);
	//   WORKDIR, USER, STOPSIGNAL, MAINTAINER: one element, the whole rest;
	//   FROM, COPY, ADD, EXPOSE, VOLUME: the words (or the JSON array).
	Args []string
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	Instructions []Instruction
	// Escape is the escape character: '\\' unless a `# escape=` directive says '`'.
	Escape rune
}

// Error is a syntax error at a line of the Dockerfile.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

func errorf(line int, format string, args ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// instructions the parser accepts; the builder may still refuse some.
var known = map[string]bool{
	"FROM": true, "RUN": true, "CMD": true, "ENTRYPOINT": true, "COPY": true, "ADD": true,
	"ENV": true, "ARG": true, "WORKDIR": true, "USER": true, "EXPOSE": true, "LABEL": true,
	"VOLUME": true, "STOPSIGNAL": true, "MAINTAINER": true, "SHELL": true,
	"HEALTHCHECK": true, "ONBUILD": true,
}

var directiveRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`) })

// Parse reads a Dockerfile.
func Parse(r io.Reader) (*Dockerfile, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	d := &Dockerfile{Escape: '\\'}
	var (
		lineNo     int
		directives = true // parser directives are only read before anything else
		cur        strings.Builder
		startLine  int
		pending    bool // cur holds the start of an instruction continued on the next line
	)
	emit := func() error {
		text := cur.String()
		cur.Reset()
		pending = false
		if strings.TrimSpace(text) == "" {
			return nil
		}
		in, err := parseInstruction(text, startLine, d.Escape)
		if err != nil {
			return err
		}
		d.Instructions = append(d.Instructions, in)
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		trimmed := strings.TrimLeftFunc(line, unicode.IsSpace)
		if directives {
			if m := directiveRe().FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") {
					switch m[2] {
					case "\\":
						d.Escape = '\\'
					case "`":
						d.Escape = '`'
					default:
						return nil, errorf(lineNo, "invalid escape directive %q: use \\ or `", m[2])
					}
				}
				// syntax= and unknown directives are ignored, as comments.
				continue
			}
			directives = false
		}
		// Comment lines go, also between continuation lines; a # later in a
		// line is part of the argument.
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			// Docker tolerates empty lines inside a continuation too.
			continue
		}
		if !pending {
			startLine = lineNo
			line = trimmed
		}
		body := strings.TrimRightFunc(line, unicode.IsSpace)
		if strings.HasSuffix(body, string(d.Escape)) && !escapedEscape(body, d.Escape) {
			cur.WriteString(strings.TrimSuffix(body, string(d.Escape)))
			pending = true
			continue
		}
		cur.WriteString(line)
		if err := emit(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dockerfile: %w", err)
	}
	// A continuation on the last line ends the instruction, as Docker has it.
	if pending {
		if err := emit(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// escapedEscape tells whether the escape character ending body is itself
// escaped (an even run of them), so it is literal and not a continuation.
func escapedEscape(body string, esc rune) bool {
	n := 0
	for i := len(body) - 1; i >= 0 && rune(body[i]) == esc; i-- {
		n++
	}
	return n%2 == 0
}

func parseInstruction(text string, line int, esc rune) (Instruction, error) {
	text = strings.TrimSpace(text)
	kw, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		kw, rest = text[:i], text[i:]
	}
	rest = strings.TrimSpace(rest)
	cmd := strings.ToUpper(kw)
	in := Instruction{Cmd: cmd, Line: line, Original: text, Flags: map[string]string{}}
	if !known[cmd] {
		return in, errorf(line, "unknown instruction %q", kw)
	}
	switch cmd {
	case "FROM", "COPY", "ADD", "RUN":
		var err error
		rest, err = parseFlags(&in, rest)
		if err != nil {
			return in, err
		}
	}
	switch cmd {
	case "RUN", "CMD", "ENTRYPOINT", "SHELL":
		if args, ok := jsonArray(rest); ok {
			in.JSON, in.Args = true, args
		} else if cmd == "SHELL" {
			return in, errorf(line, "SHELL requires a JSON array, such as [\"/bin/sh\", \"-c\"]")
		} else if rest != "" {
			in.Args = []string{rest}
		}
		if cmd == "RUN" && len(in.Args) == 0 {
			return in, errorf(line, "RUN requires a command")
		}
	case "COPY", "ADD", "VOLUME":
		if args, ok := jsonArray(rest); ok {
			in.JSON, in.Args = true, args
		} else {
			in.Args = strings.Fields(rest)
		}
		if cmd != "VOLUME" && len(in.Args) < 2 {
			return in, errorf(line, "%s requires at least two arguments: a source and a destination", cmd)
		}
		if cmd == "VOLUME" && len(in.Args) == 0 {
			return in, errorf(line, "VOLUME requires at least one path")
		}
	case "FROM":
		in.Args = strings.Fields(rest)
		switch {
		case len(in.Args) == 1:
		case len(in.Args) == 3 && strings.EqualFold(in.Args[1], "AS"):
		default:
			return in, errorf(line, "FROM takes an image and an optional 'AS name', got %q", rest)
		}
	case "EXPOSE":
		in.Args = strings.Fields(rest)
		if len(in.Args) == 0 {
			return in, errorf(line, "EXPOSE requires at least one port")
		}
	case "WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER":
		if rest == "" {
			return in, errorf(line, "%s requires an argument", cmd)
		}
		in.Args = []string{rest}
	case "ENV", "LABEL":
		pairs, err := nameValues(rest, esc, cmd == "ENV")
		if err != nil {
			return in, errorf(line, "%s: %v", cmd, err)
		}
		in.Args = pairs
	case "ARG":
		words, err := splitWords(rest, esc)
		if err != nil {
			return in, errorf(line, "ARG: %v", err)
		}
		if len(words) == 0 {
			return in, errorf(line, "ARG requires a name")
		}
		for _, w := range words {
			name, _, _ := strings.Cut(w, "=")
			if !validName(name) {
				return in, errorf(line, "ARG: invalid name %q", name)
			}
		}
		in.Args = words
	case "HEALTHCHECK", "ONBUILD":
		in.Args = []string{rest}
	}
	return in, nil
}

// parseFlags takes the leading --name=value words off rest.
func parseFlags(in *Instruction, rest string) (string, error) {
	for strings.HasPrefix(rest, "--") {
		word, after, _ := strings.Cut(rest, " ")
		name, value, ok := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		if name == "" {
			return "", errorf(in.Line, "%s: empty flag", in.Cmd)
		}
		if !ok {
			value = "true"
		}
		in.Flags[name] = value
		rest = strings.TrimSpace(after)
	}
	return rest, nil
}

// jsonArray parses the exec form: a JSON array of strings, and nothing else.
func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false
	}
	return out, true
}

// nameValues splits ENV/LABEL arguments into key=value words, quotes kept.
// ENV's old form `ENV key value with spaces` (no = in the first word) is one pair.
func nameValues(rest string, esc rune, legacy bool) ([]string, error) {
	if rest == "" {
		return nil, fmt.Errorf("requires at least one key=value pair")
	}
	words, err := splitWords(rest, esc)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(words[0], "=") {
		if !legacy {
			return nil, fmt.Errorf("%q is not key=value", words[0])
		}
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return nil, fmt.Errorf("%q has no value: use key=value or key value", rest)
		}
		return []string{rest[:i] + "=" + strings.TrimSpace(rest[i:])}, nil
	}
	for _, w := range words {
		k, _, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value (mixing the two forms is not allowed)", w)
		}
		if k == "" {
			return nil, fmt.Errorf("%q has an empty key", w)
		}
	}
	return words, nil
}

// splitWords splits on whitespace outside quotes, keeping quotes and escapes
// for the lexer.
func splitWords(s string, esc rune) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote rune
		have  bool
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == esc && quote != '\'':
			cur.WriteRune(r)
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			have = true
		case quote != 0:
			cur.WriteRune(r)
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
			cur.WriteRune(r)
			have = true
		case unicode.IsSpace(r):
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if have {
		words = append(words, cur.String())
	}
	return words, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}
