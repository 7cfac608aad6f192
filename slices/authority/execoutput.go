package authority

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"pcr/slices/api"
)

// maxStoredResult bounds an exec result as stored (its JSON): etcd
// refuses a request over --max-request-bytes (1.5 MiB by default), and a
// node may send up to api.MaxExecOutput on each of stdout and stderr.
const maxStoredResult = 1 << 20

// markerRoom is what a cut stream's marker and its JSON field name may
// take on top of the output kept.
const markerRoom = 64

// errUnstorable: a result too large to store even without its output.
var errUnstorable = fmt.Errorf("too large to store even without its output")

// fitResult cuts res's stdout and stderr so that res as JSON takes at
// most limit bytes, ending each cut stream with a line that says where it
// was cut. The two streams share the room: one that needs less than half
// leaves the rest to the other.
func fitResult(res api.ExecResult, limit int) (api.ExecResult, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return res, err
	}
	if len(b) <= limit {
		return res, nil
	}
	bare := res
	bare.Stdout, bare.Stderr = "", ""
	if b, err = json.Marshal(bare); err != nil {
		return res, err
	}
	room := limit - len(b) - 2*markerRoom
	if room < 0 {
		return res, errUnstorable
	}
	outLen, errLen := jsonLen(res.Stdout), jsonLen(res.Stderr)
	outRoom := room / 2
	errRoom := room - outRoom
	switch {
	case outLen < outRoom:
		errRoom += outRoom - outLen
	case errLen < errRoom:
		outRoom += errRoom - errLen
	}
	res.Stdout, res.Stderr = cutJSON(res.Stdout, outRoom), cutJSON(res.Stderr, errRoom)
	return res, nil
}

// cutJSON cuts s at a character boundary so that what is kept takes at
// most room bytes as a JSON string, and marks the cut.
func cutJSON(s string, room int) string {
	if end := jsonFit(s, room); end < len(s) {
		return s[:end] + fmt.Sprintf("\n[output cut at %d bytes]", end)
	}
	return s
}

// jsonLen is how many bytes s takes inside a JSON string.
func jsonLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n += jsonRuneLen(r, size)
		i += size
	}
	return n
}

// jsonFit is the length of the longest prefix of s, cut between
// characters, that takes at most room bytes inside a JSON string.
func jsonFit(s string, room int) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if n += jsonRuneLen(r, size); n > room {
			return i
		}
		i += size
	}
	return len(s)
}

// jsonRuneLen is what encoding/json writes for a character of size bytes:
// HTML-safe escapes (\u003c) for < > &, \uXXXX for other controls and for
// U+2028/9, \ufffd for an invalid byte.
func jsonRuneLen(r rune, size int) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	case r == utf8.RuneError && size == 1:
		return 6
	}
	return size
}
