package dockerfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Dockerfile {
	t.Helper()
	d, err := Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return d
}

func TestParseContinuationsCommentsAndLines(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
# a comment
FROM busybox

RUN echo one \
    && echo two \
# a comment between continuation lines is dropped

    && echo three
  run ["echo", "exec form"]
CMD echo # not a comment
`
	d := mustParse(t, src)
	if len(d.Instructions) != 4 {
		t.Fatalf("got %d instructions, want 4: %+v", len(d.Instructions), d.Instructions)
	}
	from, run, exec, cmd := d.Instructions[0], d.Instructions[1], d.Instructions[2], d.Instructions[3]
	if from.Cmd != "FROM" || from.Line != 3 || !reflect.DeepEqual(from.Args, []string{"busybox"}) {
		t.Errorf("FROM: %+v", from)
	}
	if run.Line != 5 || run.JSON {
		t.Errorf("RUN line %d json %v, want 5 false", run.Line, run.JSON)
	}
	if want := "echo one     && echo two     && echo three"; !reflect.DeepEqual(run.Args, []string{want}) {
		t.Errorf("RUN args %q, want [%q]", run.Args, want)
	}
	if !strings.HasPrefix(run.Original, "RUN echo one") {
		t.Errorf("RUN original %q", run.Original)
	}
	if exec.Cmd != "RUN" || exec.Line != 10 || !exec.JSON || !reflect.DeepEqual(exec.Args, []string{"echo", "exec form"}) {
		t.Errorf("exec-form RUN: %+v", exec)
	}
	if cmd.JSON || !reflect.DeepEqual(cmd.Args, []string{"echo # not a comment"}) {
		t.Errorf("CMD: %+v", cmd)
	}
}

func TestParseJSONVersusShellForm(t *testing.T) {
	d := mustParse(t, `FROM scratch
CMD ["php", "-a"]
ENTRYPOINT [ "/bin/sh", "-c" ]
CMD [not json]
ENTRYPOINT ["unterminated"
COPY ["a b", "c", "/dst/"]
COPY --chown=1:2 x y /z/
`)
	in := d.Instructions
	if !in[1].JSON || !reflect.DeepEqual(in[1].Args, []string{"php", "-a"}) {
		t.Errorf("CMD exec form: %+v", in[1])
	}
	if !in[2].JSON || !reflect.DeepEqual(in[2].Args, []string{"/bin/sh", "-c"}) {
		t.Errorf("ENTRYPOINT exec form: %+v", in[2])
	}
	// Not a JSON array of strings: Docker's fallback is the shell form.
	if in[3].JSON || !reflect.DeepEqual(in[3].Args, []string{"[not json]"}) {
		t.Errorf("CMD fallback: %+v", in[3])
	}
	if in[4].JSON || in[4].Args[0] != `["unterminated"` {
		t.Errorf("ENTRYPOINT fallback: %+v", in[4])
	}
	if !in[5].JSON || !reflect.DeepEqual(in[5].Args, []string{"a b", "c", "/dst/"}) {
		t.Errorf("COPY JSON: %+v", in[5])
	}
	if in[6].Flags["chown"] != "1:2" || !reflect.DeepEqual(in[6].Args, []string{"x", "y", "/z/"}) {
		t.Errorf("COPY flags: %+v", in[6])
	}
}

func TestParseEnvLabelArgForms(t *testing.T) {
	d := mustParse(t, `FROM busybox
ENV A=1 B="two words" C=three\ words
ENV LEGACY value with   spaces
LABEL "com.example.x"="y" version=1.0
ARG V=1.2 W
`)
	in := d.Instructions
	if want := []string{"A=1", `B="two words"`, `C=three\ words`}; !reflect.DeepEqual(in[1].Args, want) {
		t.Errorf("ENV pairs %q, want %q", in[1].Args, want)
	}
	if want := []string{"LEGACY=value with   spaces"}; !reflect.DeepEqual(in[2].Args, want) {
		t.Errorf("legacy ENV %q, want %q", in[2].Args, want)
	}
	if want := []string{`"com.example.x"="y"`, "version=1.0"}; !reflect.DeepEqual(in[3].Args, want) {
		t.Errorf("LABEL %q, want %q", in[3].Args, want)
	}
	if want := []string{"V=1.2", "W"}; !reflect.DeepEqual(in[4].Args, want) {
		t.Errorf("ARG %q, want %q", in[4].Args, want)
	}
}

func TestParseEscapeDirective(t *testing.T) {
	d := mustParse(t, "# escape=`\nFROM scratch\nRUN echo a `\n  b\nCOPY c:\\dir\\ d\n")
	if d.Escape != '`' {
		t.Fatalf("escape %q, want `", d.Escape)
	}
	if got := d.Instructions[1].Args[0]; got != "echo a   b" {
		t.Errorf("continued RUN %q", got)
	}
	if got := d.Instructions[2].Args; !reflect.DeepEqual(got, []string{`c:\dir\`, "d"}) {
		t.Errorf("backslashes are literal with escape=`: %q", got)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"FROM busybox\nFROBNICATE x\n", `line 2: unknown instruction "FROBNICATE"`},
		{"FROM busybox\n\n# c\nCOPY onlyone\n", "line 4: COPY requires at least two arguments"},
		{"FROM busybox\nRUN\n", "line 2: RUN requires a command"},
		{"FROM busybox\nENV\n", "line 2: ENV: requires at least one key=value pair"},
		{"FROM busybox\nENV A=1 B\n", "line 2: ENV: \"B\" is not key=value"},
		{"FROM busybox\nLABEL justakey\n", `line 2: LABEL: "justakey" is not key=value`},
		{"FROM busybox\nENV A=\"open\n", "line 2: ENV: unterminated \" quote"},
		{"FROM a b\n", "line 1: FROM takes an image"},
		{"FROM a\nARG 9x=1\n", `line 2: ARG: invalid name "9x"`},
		{"FROM a\nSHELL sh -c\n", "line 2: SHELL requires a JSON array"},
		{"FROM a\nWORKDIR\n", "line 2: WORKDIR requires an argument"},
		{"# escape=x\nFROM a\n", "line 1: invalid escape directive"},
		{"FROM a\nRUN a \\\n  b\nEXPOSE\n", "line 4: EXPOSE requires at least one port"},
	} {
		_, err := Parse(strings.NewReader(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.src, err, tc.want)
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Line == 0 {
			t.Errorf("Parse(%q): error %v is not a *Error with a line", tc.src, err)
		}
	}
}

func TestParseEmptyAndTrailingContinuation(t *testing.T) {
	d := mustParse(t, "")
	if len(d.Instructions) != 0 {
		t.Errorf("empty file gave %d instructions", len(d.Instructions))
	}
	d = mustParse(t, "FROM a\nRUN echo \\")
	if got := d.Instructions[1].Args; !reflect.DeepEqual(got, []string{"echo"}) {
		t.Errorf("trailing continuation %q", got)
	}
	// An escaped escape at the end of a line is literal, not a continuation.
	d = mustParse(t, "FROM a\nRUN echo \\\\\nCMD x\n")
	if len(d.Instructions) != 3 || d.Instructions[1].Args[0] != `echo \\` {
		t.Errorf("escaped backslash: %+v", d.Instructions)
	}
}
