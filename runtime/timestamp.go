package runtime

import (
	"errors"
	"time"
)

// parseTimestamp reads an RFC 3339 time as State.save writes it
// ("2006-01-02T15:04:05.999999999Z07:00", the fraction optional). It stands
// in for time.Parse, whose general layout parser is 20 KB that pcr-oci
// would otherwise map on every run only to read this one field back.
func parseTimestamp(s string) (time.Time, error) {
	bad := errors.New("not an RFC 3339 timestamp: " + s)
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, bad
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, bad
	}
	rest := s[19:]
	nsec := 0
	if rest != "" && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return time.Time{}, bad
		}
		frac, _ := num(20, 19+i)
		for d := i - 1; d < 9; d++ {
			frac *= 10
		}
		nsec, rest = frac, rest[i:]
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, bad // February 30th and the like
	}
	switch {
	case rest == "Z" || rest == "z":
		return t, nil
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := num(len(s)-5, len(s)-3)
		om, okm := num(len(s)-2, len(s))
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, bad
		}
		offset := oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
		// The same instant, shown in a zone that has the offset, as
		// time.Parse returns it.
		return t.Add(-time.Duration(offset) * time.Second).In(time.FixedZone("", offset)), nil
	}
	return time.Time{}, bad
}
