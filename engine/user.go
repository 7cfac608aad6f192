package engine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// resolveUser turns -u USER[:GROUP] (names or numbers) into ids, reading
// the image's /etc/passwd and /etc/group from its layers, top first, as
// Docker does; the groups a user is a member of become additional gids.
func resolveUser(spec string, lowers []string) (specs.User, error) {
	if spec == "" {
		spec = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	u := specs.User{}
	name := ""
	if uid, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(uid)
		if e, ok := findEntry(lowers, "etc/passwd", 2, userPart); ok && len(e) >= 4 {
			name = e[0]
			if gid, err := strconv.ParseUint(e[3], 10, 32); err == nil {
				u.GID = uint32(gid)
			}
		}
	} else {
		e, ok := findEntry(lowers, "etc/passwd", 0, userPart)
		if !ok || len(e) < 4 {
			return u, fmt.Errorf("unable to find user %s: no matching entries in the image's /etc/passwd", userPart)
		}
		name = e[0]
		uid, err1 := strconv.ParseUint(e[2], 10, 32)
		gid, err2 := strconv.ParseUint(e[3], 10, 32)
		if err1 != nil || err2 != nil {
			return u, fmt.Errorf("user %s: bad /etc/passwd entry", userPart)
		}
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if gid, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(gid)
		} else {
			e, ok := findEntry(lowers, "etc/group", 0, groupPart)
			if !ok || len(e) < 3 {
				return u, fmt.Errorf("unable to find group %s: no matching entries in the image's /etc/group", groupPart)
			}
			gid, err := strconv.ParseUint(e[2], 10, 32)
			if err != nil {
				return u, fmt.Errorf("group %s: bad /etc/group entry", groupPart)
			}
			u.GID = uint32(gid)
		}
	}
	if name != "" && !hasGroup {
		u.AdditionalGids = memberGroups(lowers, name, u.GID)
	}
	return u, nil
}

// findEntry finds the line of a colon-separated file whose field col is
// want, in the topmost layer that has the file.
func findEntry(lowers []string, rel string, col int, want string) ([]string, bool) {
	f, err := openInLayers(lowers, rel)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) > col && fields[col] == want {
			return fields, true
		}
	}
	return nil, false
}

func memberGroups(lowers []string, user string, primary uint32) []uint32 {
	f, err := openInLayers(lowers, "etc/group")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []uint32
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) < 4 {
			continue
		}
		for _, m := range strings.Split(fields[3], ",") {
			if m == user {
				if gid, err := strconv.ParseUint(fields[2], 10, 32); err == nil && uint32(gid) != primary {
					out = append(out, uint32(gid))
				}
			}
		}
	}
	return out
}

// openInLayers opens rel in the topmost layer holding it. A symlink is
// not followed: /etc/passwd in an image is a plain file, and following
// one could read the host's.
func openInLayers(lowers []string, rel string) (*os.File, error) {
	for _, l := range lowers {
		p := filepath.Join(l, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() {
			// a whiteout (char device 0/0) or a link: treat as absent
			return nil, os.ErrNotExist
		}
		return os.Open(p)
	}
	return nil, errors.New("not found")
}
