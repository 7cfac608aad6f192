package runtime

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sendConsole hands the pty master to whoever listens on the console
// socket, as runc does (podman's conmon, `recvtty`).
func sendConsole(path string, master *os.File) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("console socket %s: %w", path, err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("console socket %s is not a unix socket", path)
	}
	name := master.Name()
	_, _, err = uc.WriteMsgUnix([]byte(name), unix.UnixRights(int(master.Fd())), nil)
	if err != nil {
		return fmt.Errorf("send pty master to %s: %w", path, err)
	}
	return nil
}
