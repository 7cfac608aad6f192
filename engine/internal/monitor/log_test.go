package monitor

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func TestLogLineRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89, time.FixedZone("x", 3600))
	for _, e := range []LogEntry{
		{Time: at, Stream: "stdout", Text: []byte("hello world")},
		{Time: at, Stream: "stderr", Partial: true, Text: []byte("a b  c")},
		{Time: at, Stream: "stdout", Text: []byte{}},
	} {
		var buf bytes.Buffer
		if err := WriteLogLine(&buf, e); err != nil {
			t.Fatal(err)
		}
		got, err := ParseLogLine(buf.Bytes())
		if err != nil {
			t.Fatalf("parse %q: %v", buf.String(), err)
		}
		if !got.Time.Equal(e.Time) || got.Time.Location() != time.UTC || got.Stream != e.Stream ||
			got.Partial != e.Partial || !bytes.Equal(got.Text, e.Text) {
			t.Errorf("%q parsed as %+v, want %+v", buf.String(), got, e)
		}
	}
	var buf bytes.Buffer
	_ = WriteLogLine(&buf, LogEntry{Time: at, Stream: "stdout", Text: []byte("x")})
	if want := "2026-03-04T04:06:07.000000089Z stdout F x\n"; buf.String() != want {
		t.Errorf("wrote %q, want %q (the monitor's fixed-width UTC form)", buf.String(), want)
	}
}

func TestParseLogLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"garbage",
		"2026-03-04T04:06:07Z stdin F x",
		"2026-03-04T04:06:07Z stdout X x",
		"yesterday stdout F x",
	} {
		if _, err := ParseLogLine([]byte(line)); err == nil {
			t.Errorf("ParseLogLine(%q) succeeded", line)
		}
	}
	if err := WriteLogLine(&bytes.Buffer{}, LogEntry{Stream: "stdout", Text: []byte("a\nb")}); err == nil {
		t.Error("WriteLogLine accepted a newline in the text")
	}
}

func TestExitRecord(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadExit(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadExit before the exit: %v, want ErrNotExist", err)
	}
	want := Exit{Code: 143, Signal: 15, FinishedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := WriteExit(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadExit(dir)
	if err != nil || *got != want {
		t.Fatalf("ReadExit = %+v, %v; want %+v", got, err, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only exit.json", len(entries))
	}
	// The monitor's own form, signal included even when 0.
	if err := os.WriteFile(dir+"/exit.json", []byte(`{"exitCode":3,"signal":0,"finishedAt":"2026-01-02T03:04:05.000000006Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadExit(dir); err != nil || got.Code != 3 || got.FinishedAt.Nanosecond() != 6 {
		t.Errorf("ReadExit of the monitor's record = %+v, %v", got, err)
	}
	if err := WriteExit(dir+"/missing", want); err == nil {
		t.Error("WriteExit into a missing directory succeeded")
	}
}
