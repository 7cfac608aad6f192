package runtime

import (
	"bufio"
	"os"
	"strings"
)

// passwdEntry returns the fields of uid's line in the passwd(5) file at
// path (name, password, uid, gid, gecos, home, shell), or false when the
// file cannot be read or has no such line. It stands in for os/user, which
// would link package fmt into pcr-oci for this one lookup.
func passwdEntry(path, uid string) ([]string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if fields := strings.Split(line, ":"); len(fields) >= 7 && fields[2] == uid {
			return fields, true
		}
	}
	return nil, false
}
