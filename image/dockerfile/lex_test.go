package dockerfile

import (
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLexerWordExpansion(t *testing.T) {
	env := envOf(map[string]string{"A": "apple", "EMPTY": "", "P": "/usr/local", "SP": "a b"})
	l := Lexer{}
	for _, tc := range []struct{ in, want string }{
		{"$A", "apple"},
		{"${A}s", "apples"},
		{"$A-$UNSET-x", "apple--x"},
		{"${UNSET:-def}", "def"},
		{"${EMPTY:-def}", "def"},
		{"${EMPTY-def}", ""},
		{"${UNSET-def}", "def"},
		{"${A:-def}", "apple"},
		{"${A:+alt}", "alt"},
		{"${UNSET:+alt}", ""},
		{"${EMPTY+alt}", "alt"},
		{"${UNSET:-${A}/x}", "apple/x"},
		{"${P}/bin:$PATH", "/usr/local/bin:"},
		{`'$A'`, "$A"},
		{`"$A b"`, "apple b"},
		{`"\$A"`, "$A"},
		{`\$A`, "$A"},
		{`"a\b"`, `a\b`},
		{"$", "$"},
		{"cost $5", "cost $5"},
		{"$SP", "a b"},
		{`a\ b`, "a b"},
	} {
		got, err := l.Word(tc.in, env)
		if err != nil || got != tc.want {
			t.Errorf("Word(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLexerErrors(t *testing.T) {
	l := Lexer{}
	env := envOf(nil)
	for _, tc := range []struct{ in, want string }{
		{"${UNSET:?must be set}", "UNSET: must be set"},
		{"${UNSET?}", "UNSET: is not set"},
		{"${A", "missing }"},
		{"${}", "needs a variable name"},
		{"${A/x/y}", "unsupported modifier"},
		{`"open`, `unterminated " quote`},
		{`'open`, "unterminated ' quote"},
	} {
		_, err := l.Word(tc.in, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Word(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestLexerWordsSplitsOutsideQuotes(t *testing.T) {
	env := envOf(map[string]string{"V": "x y"})
	got, err := Lexer{}.Words(`a "b c" $V 'd e'`, env)
	if err != nil {
		t.Fatal(err)
	}
	// A variable's value is not split again: Docker does not word-split expansions.
	if want := []string{"a", "b c", "x y", "d e"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Words = %q, want %q", got, want)
	}
}

func TestLexerBacktickEscape(t *testing.T) {
	got, err := Lexer{Escape: '`'}.Word("C:\\dir `$A", envOf(map[string]string{"A": "x"}))
	if err != nil || got != `C:\dir $A` {
		t.Errorf("Word = %q, %v", got, err)
	}
}
