package build

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ids is a resolved user: what the container's process runs as.
type ids struct {
	uid, gid   int
	additional []int
}

// resolveUser turns "user[:group]" (names or numbers) into IDs with the
// image's own /etc/passwd and /etc/group, as Docker does: a name that is not
// there is an error, a number need not be there.
func resolveUser(root, spec string) (ids, error) {
	if spec == "" {
		spec = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, err := readColonFile(root, "/etc/passwd")
	if err != nil {
		return ids{}, err
	}
	var r ids
	userName := ""
	if n, err := strconv.Atoi(userPart); err == nil && n >= 0 {
		r.uid = n
		for _, f := range passwd {
			if len(f) >= 4 && f[2] == userPart {
				userName = f[0]
				r.gid, _ = strconv.Atoi(f[3])
				break
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if len(f) >= 4 && f[0] == userPart {
				r.uid, err = strconv.Atoi(f[2])
				if err != nil {
					return ids{}, fmt.Errorf("user %s: bad uid %q in /etc/passwd", userPart, f[2])
				}
				r.gid, _ = strconv.Atoi(f[3])
				userName, found = f[0], true
				break
			}
		}
		if !found {
			return ids{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	groups, err := readColonFile(root, "/etc/group")
	if err != nil {
		return ids{}, err
	}
	if hasGroup {
		if n, err := strconv.Atoi(groupPart); err == nil && n >= 0 {
			r.gid = n
		} else {
			found := false
			for _, f := range groups {
				if len(f) >= 3 && f[0] == groupPart {
					if r.gid, err = strconv.Atoi(f[2]); err != nil {
						return ids{}, fmt.Errorf("group %s: bad gid %q in /etc/group", groupPart, f[2])
					}
					found = true
					break
				}
			}
			if !found {
				return ids{}, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
		}
		return r, nil
	}
	// Without an explicit group the user's supplementary groups apply.
	if userName != "" {
		r.additional = append(r.additional, r.gid)
		for _, f := range groups {
			if len(f) < 4 {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == userName {
					if g, err := strconv.Atoi(f[2]); err == nil && g != r.gid {
						r.additional = append(r.additional, g)
					}
				}
			}
		}
	}
	return r, nil
}

// readColonFile reads an /etc/passwd-style file of the image; a missing
// file is empty.
func readColonFile(root, p string) ([][]string, error) {
	f, err := openInRoot(root, p, unix.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of the image: %w", p, err)
	}
	defer f.Close()
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
		return nil, fmt.Errorf("read %s of the image: %w", p, err)
	}
	return out, nil
}
