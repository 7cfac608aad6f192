package layer

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// dirStack holds open descriptors for the chain of directories from the layer root down to the
// directory of the last entry. Tar streams list a directory's entries together, so most entries
// reuse the whole chain and cost no lookups, while each step down is an openat of one name with
// O_NOFOLLOW from a descriptor already inside the layer: a symlink can neither be followed nor
// redirect a write outside it, whatever the entries did before. The chain is bounded by the
// path depth, so a layer with a million directories does not hold a million descriptors.
type dirStack struct {
	root  int      // the layer directory, opened through os.Root
	names []string // components of the open chain
	fds   []int    // fds[i] is the directory names[:i+1]
	// missing is called for a component that does not exist yet; it must create it as a
	// directory below parent. nil: a missing component is an error.
	missing func(parent int, dir, name string) error
	// opened is called once each time a component joins the chain.
	opened func(fd int, dir string) error
}

// open returns a descriptor for dir (relative, clean, "." for the root). It stays valid until
// the next open or forget.
func (s *dirStack) open(dir string) (int, error) {
	if dir == "." {
		s.truncate(0)
		return s.root, nil
	}
	comps := strings.Split(dir, "/")
	k := 0
	for k < len(comps) && k < len(s.names) && comps[k] == s.names[k] {
		k++
	}
	s.truncate(k)
	for j := k; j < len(comps); j++ {
		parent := s.root
		if j > 0 {
			parent = s.fds[j-1]
		}
		sub := strings.Join(comps[:j+1], "/")
		fd, err := openDir(parent, comps[j])
		if errors.Is(err, unix.ENOENT) && s.missing != nil {
			if err := s.missing(parent, sub, comps[j]); err != nil {
				return -1, err
			}
			fd, err = openDir(parent, comps[j])
		}
		if err != nil {
			return -1, describeOpenErr(parent, sub, comps[j], err)
		}
		s.names = append(s.names, comps[j])
		s.fds = append(s.fds, fd)
		if s.opened != nil {
			if err := s.opened(fd, sub); err != nil {
				return -1, err
			}
		}
	}
	return s.fds[len(s.fds)-1], nil
}

// forget drops the chain at p and below, before p is removed or replaced.
func (s *dirStack) forget(p string) {
	for i := range s.names {
		if strings.Join(s.names[:i+1], "/") == p {
			s.truncate(i)
			return
		}
	}
}

func (s *dirStack) truncate(k int) {
	for _, fd := range s.fds[k:] {
		unix.Close(fd)
	}
	s.names = s.names[:k]
	s.fds = s.fds[:k]
}

func openDir(parent int, name string) (int, error) {
	for {
		fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// describeOpenErr turns O_NOFOLLOW's ELOOP (or O_DIRECTORY's ENOTDIR) into what happened.
func describeOpenErr(parent int, dir, name string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return fmt.Errorf("%w: path goes through symlink %s", ErrUnsafeEntry, dir)
			}
			return fmt.Errorf("%s is not a directory", dir)
		}
	}
	return fmt.Errorf("open %s: %w", dir, err)
}

// openDirPath opens dir below root without creating anything, refusing symlinks on the way.
func openDirPath(root int, dir string) (int, error) {
	s := dirStack{root: root}
	fd, err := s.open(dir)
	if err != nil {
		s.truncate(0)
		return -1, err
	}
	if fd == root {
		return unix.Dup(root)
	}
	// Keep the last descriptor; close the ones above it.
	s.fds = s.fds[:len(s.fds)-1]
	s.names = s.names[:len(s.names)-1]
	s.truncate(0)
	return fd, nil
}
