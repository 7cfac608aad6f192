package runtime

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A console-socket listener (conmon, recvtty) gets the master's name and a
// working fd for it.
func TestSendConsoleHandsOverTheFD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Any fd shows the handover; a plain file stands in for the pty master.
	master, err := os.Create(filepath.Join(t.TempDir(), "ptmx"))
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()

	type got struct {
		name string
		fds  []int
		err  error
	}
	done := make(chan got, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			done <- got{err: err}
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			done <- got{err: err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			done <- got{name: string(buf[:n]), err: err}
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		done <- got{name: string(buf[:n]), fds: fds, err: err}
	}()

	if err := sendConsole(path, master); err != nil {
		t.Fatal(err)
	}
	g := <-done
	if g.err != nil || g.name != master.Name() || len(g.fds) != 1 {
		t.Fatalf("listener got name %q, fds %v, err %v; want %q and one fd", g.name, g.fds, g.err, master.Name())
	}
	sent := os.NewFile(uintptr(g.fds[0]), "sent")
	defer sent.Close()
	if _, err := sent.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(master.Name()); err != nil || string(b) != "x" {
		t.Fatalf("file holds %q, %v after a write through the received fd; want \"x\"", b, err)
	}

	if err := sendConsole(filepath.Join(t.TempDir(), "none.sock"), master); err == nil {
		t.Error("no listener: sendConsole succeeded")
	}
}
