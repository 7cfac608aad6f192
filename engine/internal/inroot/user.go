package inroot

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is what a container's process runs as.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
}

// ResolveUser turns Docker's "user[:group]" (names or numbers; "" is root)
// into IDs with root's own /etc/passwd and /etc/group, both opened inside
// root. As in Docker: a name that is not there is an error, a number need
// not be there (a uid without a passwd entry gets gid 0), and without an
// explicit group the user's primary group and its /etc/group memberships
// are the additional groups.
func ResolveUser(root, spec string) (User, error) {
	if spec == "" {
		spec = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		return User{}, fmt.Errorf("user %q: empty user name", spec)
	}
	passwd, err := readColonFile(root, "/etc/passwd")
	if err != nil {
		return User{}, err
	}
	var u User
	userName := ""
	if n, ok := parseID(userPart); ok {
		u.UID = n
		for _, f := range passwd {
			if len(f) >= 4 && f[2] == userPart {
				userName = f[0]
				u.GID, _ = parseID(f[3])
				break
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if len(f) >= 4 && f[0] == userPart {
				if u.UID, ok = parseID(f[2]); !ok {
					return User{}, fmt.Errorf("user %s: bad uid %q in /etc/passwd", userPart, f[2])
				}
				u.GID, _ = parseID(f[3])
				userName, found = f[0], true
				break
			}
		}
		if !found {
			return User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	groups, err := readColonFile(root, "/etc/group")
	if err != nil {
		return User{}, err
	}
	if hasGroup {
		if n, ok := parseID(groupPart); ok {
			u.GID = n
			return u, nil
		}
		for _, f := range groups {
			if len(f) >= 3 && f[0] == groupPart {
				gid, ok := parseID(f[2])
				if !ok {
					return User{}, fmt.Errorf("group %s: bad gid %q in /etc/group", groupPart, f[2])
				}
				u.GID = gid
				return u, nil
			}
		}
		return User{}, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
	}
	// Supplementary groups only apply in the implicit form, as in Docker.
	if userName != "" {
		u.AdditionalGids = append(u.AdditionalGids, u.GID)
		for _, f := range groups {
			if len(f) < 4 {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m != userName {
					continue
				}
				if g, ok := parseID(f[2]); ok && g != u.GID {
					u.AdditionalGids = append(u.AdditionalGids, g)
				}
			}
		}
	}
	return u, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// readColonFile reads an /etc/passwd-style file inside root; a missing file
// is empty.
func readColonFile(root, p string) ([][]string, error) {
	// O_NONBLOCK: a hostile image's /etc/passwd may be a FIFO.
	f, err := OpenInRoot(root, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of the container: %w", p, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s of the container: not a regular file", p)
	}
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s of the container: %w", p, err)
	}
	return out, nil
}
