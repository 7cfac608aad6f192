package engine

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// lockContainer takes the container's lock (a flock on its directory, so
// there is no lock file to leak). Operations that change a container
// hold it, and so does the start helper while it creates the runtime's
// container; the container's run does not, so stop and rm can get in.
// A directory removed while this waited for the lock counts as gone
// (ENOENT): the remover held the lock, and what it removed stays removed.
func lockContainer(dir string) (func(), error) {
	fd, err := flockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock container %s: %w", dir, err)
	}
	// Callers may release early and again in a defer.
	return sync.OnceFunc(func() { unix.Close(fd) }), nil
}

// lockNames takes the lock of the names directory, held by whoever
// removes a name link (a stale one, or its own) so that it never removes
// a link another create has just made in its place.
func (e *Engine) lockNames() (func(), error) {
	dir := e.namePath("")
	fd, err := flockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock container names %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

func flockDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Nlink == 0 {
		unix.Close(fd)
		return -1, unix.ENOENT
	}
	return fd, nil
}

// exists says whether a path exists; any error other than "not there"
// counts as there, so callers err on the side of not reusing it.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil || !os.IsNotExist(err)
}
