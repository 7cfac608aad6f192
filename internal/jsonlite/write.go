package jsonlite

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s quoted as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Comma appends the comma that separates an object's members or an
// array's elements, unless b is just past the opening bracket.
func Comma(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		return append(b, ',')
	}
	return b
}

// Key appends the next member's key (and the comma before it).
func Key(b []byte, k string) []byte {
	return append(AppendString(Comma(b), k), ':')
}

// String, Int, Uint and Bool append one member each.
func String(b []byte, k, v string) []byte    { return AppendString(Key(b, k), v) }
func Int(b []byte, k string, v int64) []byte { return strconv.AppendInt(Key(b, k), v, 10) }
func Uint(b []byte, k string, v uint64) []byte {
	return strconv.AppendUint(Key(b, k), v, 10)
}
func Bool(b []byte, k string, v bool) []byte { return strconv.AppendBool(Key(b, k), v) }

// Raw appends a member whose value is already JSON; empty means null.
func Raw(b []byte, k string, v []byte) []byte {
	b = Key(b, k)
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

// AppendStrings appends list as an array; nil as null.
func AppendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for _, s := range list {
		b = AppendString(Comma(b), s)
	}
	return append(b, ']')
}

// AppendStringMap appends m as an object with sorted keys; nil as null.
func AppendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for _, k := range SortedKeys(m) {
		b = String(b, k, m[k])
	}
	return append(b, '}')
}

// SortedKeys is m's keys in order, as encoding/json writes a map.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Indent appends src, compact JSON as these functions write it, with
// each element on its own line, prefixed by prefix and indent repeated
// to its depth, as encoding/json's MarshalIndent lays it out.
func Indent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			dst = append(dst, c)
		case '{', '[':
			dst = append(dst, c)
			j := i + 1
			for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
				j++
			}
			if j < len(src) && (src[j] == '}' || src[j] == ']') {
				i = j
				dst = append(dst, src[j])
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
