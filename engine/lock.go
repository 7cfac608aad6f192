package engine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockContainer takes the container's lock (a flock on its directory, so
// there is no lock file to leak). Operations that change a container
// hold it; the container's run does not, so stop and rm can get in.
func lockContainer(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock container %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock container %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// exists says whether a path exists; any error other than "not there"
// counts as there, so callers err on the side of not reusing it.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil || !os.IsNotExist(err)
}
