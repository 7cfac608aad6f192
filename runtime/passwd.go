package runtime

import (
	"bufio"
	"os"
	"strings"
)

// passwdEntry returns the fields of uid's first line in the passwd(5) file
// at path (name, password, uid, gid, gecos, home and, where the line has
// it, shell), or false when the file cannot be read or has no such line.
// Six fields are enough, as for runc: images write "app:x:1000:1000::/home/app". It stands in for os/user, which
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
		if fields := strings.Split(line, ":"); len(fields) >= 6 && fields[2] == uid {
			return fields, true
		}
	}
	return nil, false
}
