package engine

import (
	"crypto/rand"
	"encoding/hex"
)

const (
	containersDir = "containers"
	namesDir      = "names"
	shortIDLen    = 12
)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isFullID(s string) bool { return len(s) == 64 && isHex(s) }

// ShortID is the 12-hex form ps and run print.
func ShortID(id string) string {
	if len(id) > shortIDLen {
		return id[:shortIDLen]
	}
	return id
}
