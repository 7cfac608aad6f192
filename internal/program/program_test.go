package program

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(script string) Cmd {
	return Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
}

func TestOutputFeedsStdinAndCollectsBothStreams(t *testing.T) {
	c := sh("cat; echo oops >&2")
	c.Stdin = []byte("state\n")
	out, err := Output(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "state\noops\n" {
		t.Fatalf("output %q", out)
	}
}

func TestOutputSaysHowTheProgramEnded(t *testing.T) {
	out, err := Output(sh("echo partial; exit 3"))
	if err == nil || err.Error() != "exit status 3" {
		t.Fatalf("error %v, want exit status 3", err)
	}
	if string(out) != "partial\n" {
		t.Fatalf("output %q", out)
	}
	if _, err := Output(sh("kill -KILL $$")); err == nil || err.Error() != "signal: killed" {
		t.Fatalf("error %v, want signal: killed", err)
	}
	if _, err := Output(Cmd{Path: "/nonexistent/hook"}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want not-exist", err)
	}
}

func TestOutputGivesAnEmptyEnvironmentWhenAsked(t *testing.T) {
	c := sh("env")
	c.Env = []string{}
	out, err := Output(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "PWD=") && !strings.HasPrefix(l, "SHLVL=") && !strings.HasPrefix(l, "_=") {
			t.Fatalf("the program saw %q in an empty environment", l)
		}
	}
	c.Env = []string{"A=1"}
	if out, _ := Output(c); !strings.Contains(string(out), "A=1\n") {
		t.Fatalf("env %q lacks A=1", out)
	}
}

func TestStderrApart(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := sh("echo out; echo err >&2")
	c.Stderr = w
	out, err := Output(c)
	w.Close()
	if err != nil || string(out) != "out\n" {
		t.Fatalf("output %q, %v", out, err)
	}
	var buf [16]byte
	if n, _ := r.Read(buf[:]); string(buf[:n]) != "err\n" {
		t.Fatalf("stderr %q", buf[:n])
	}
}

func TestTimeoutKillsAndStopsWaitingForWhatTheProgramLeft(t *testing.T) {
	// The shell leaves a sleep holding the output pipe; it says which.
	c := sh("sleep 30 & echo $!; exec sleep 30")
	c.Timeout = 200 * time.Millisecond
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = Output(c)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Output still waits 10 s after its 200 ms timeout")
	}
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(out))); perr == nil && pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	} else {
		t.Errorf("output %q: no pid of the left-behind sleep", out)
	}
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("error %v, want ErrTimedOut", err)
	}
}

func TestLookPath(t *testing.T) {
	p, err := LookPath("sh")
	if err != nil || !strings.HasPrefix(p, "/") {
		t.Fatalf("LookPath(sh) = %q, %v", p, err)
	}
	if _, err := LookPath("pcr-no-such-program"); err == nil {
		t.Fatal("found a program that does not exist")
	}
	if p, _ := LookPath("./x"); p != "./x" {
		t.Fatalf("a name with a slash became %q", p)
	}
}
