package runtime

import (
	"testing"
	"time"
)

func TestParseTimestampAgreesWithTimeParse(t *testing.T) {
	now := time.Now()
	good := []string{
		now.UTC().Format(time.RFC3339Nano),
		now.Format(time.RFC3339Nano),
		"2026-12-07T23:59:59Z",
		"2026-12-07T23:59:59.5Z",
		"2024-02-29T00:00:00.000000001+05:30",
		"1999-01-01T12:00:00-08:00",
	}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		got, err := parseTimestamp(s)
		if err != nil {
			t.Errorf("parseTimestamp(%q): %v", s, err)
			continue
		}
		_, wantOff := want.Zone()
		_, gotOff := got.Zone()
		if !got.Equal(want) || gotOff != wantOff {
			t.Errorf("parseTimestamp(%q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{"", "2026-12-07", "2026-12-07T23:59:59", "2026-13-07T00:00:00Z", "2026-02-30T00:00:00Z",
		"2026-12-07T24:00:00Z", "2026-12-07T23:59:59.Z", "2026-12-07T23:59:59.1234567890Z", "2026-12-07T23:59:59+0100",
		"2026-12-07T23:59:59+01:60", "x026-12-07T23:59:59Z", "2026-12-07T23:59:59Zjunk"} {
		if got, err := parseTimestamp(s); err == nil {
			t.Errorf("parseTimestamp(%q) = %v, want an error", s, got)
		}
	}
}
