package rspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseExpiry reads --expires: a duration from now ("90m", "2h", "14d",
// "2w") or a time (RFC 3339, or a date "2026-12-31" at midnight UTC).
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return time.Time{}, fmt.Errorf("invalid expiry %q: want a duration such as 2h or 14d, or a time such as 2026-12-31T12:00:00Z", s)
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 || v > 3650 {
				return time.Time{}, fmt.Errorf("invalid expiry %q: want a positive number of days or weeks", s)
			}
			return now.Add(time.Duration(v * float64(u.unit))).UTC().Truncate(time.Second), nil
		}
	}
	if d, err := time.ParseDuration(t); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("invalid expiry %q: must be in the future", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if at, err := time.Parse(layout, t); err == nil {
			if !at.After(now) {
				return time.Time{}, fmt.Errorf("invalid expiry %q: it is in the past", s)
			}
			return at.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid expiry %q: want a duration such as 2h or 14d, or a time such as 2026-12-31T12:00:00Z", s)
}
