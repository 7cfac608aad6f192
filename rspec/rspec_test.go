package rspec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pcr/netns"
)

func TestValidateSlice(t *testing.T) {
	for _, ok := range []string{"princeton_codeen", "pl_a", "mit_x_2"} {
		if err := ValidateSlice(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "nounderscore", "Pl_a", "p_a", "pl_", "_a", "pl_a-b", "pl_a/b", "pl_" + strings.Repeat("a", 40), "1pl_a"} {
		if err := ValidateSlice(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRspecJSONUnits(t *testing.T) {
	var r Rspec
	in := `{"memory":"64M","disk":134217728,"net_rate":"10mbit","cpu_share":512,"cpu_cores":0.5,"pids":64,"nofile":1024}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := Rspec{CPUShare: 512, CPUCores: 0.5, Memory: 64 << 20, Disk: 128 << 20, Pids: 64, NetRate: 1250000, Nofile: 1024}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if err := json.Unmarshal([]byte(`{"memory":"lots"}`), &r); err == nil {
		t.Fatal("bad size accepted")
	}
	if got := Rate(1250000).String(); got != "10mbit" {
		t.Errorf("rate string %s", got)
	}
	if got := Bytes(64 << 20).String(); got != "64M" {
		t.Errorf("bytes string %s", got)
	}
}

func TestRspecValidate(t *testing.T) {
	if err := (Rspec{Memory: 64 << 20, Disk: 64 << 20, Pids: 10, CPUShare: 100, NetRate: 125000}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		r    Rspec
	}{
		{"memory", Rspec{Memory: -1}},
		{"memory", Rspec{Memory: 1 << 20}},
		{"memory", Rspec{Memory: 1 << 60}},
		{"disk", Rspec{Disk: 1 << 10}},
		{"pids", Rspec{Pids: -5}},
		{"cpu_share", Rspec{CPUShare: 1}},
		{"cpu_cores", Rspec{CPUCores: 1e6}},
		{"net_rate", Rspec{NetRate: -3}},
		{"nofile", Rspec{Nofile: 3}},
	} {
		name, r := c.name, c.r
		err := r.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%+v: got %v, want an error naming %s", r, err, name)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2h":                   now.Add(2 * time.Hour),
		"14d":                  now.Add(14 * 24 * time.Hour),
		"1w":                   now.Add(7 * 24 * time.Hour),
		"2026-12-01T00:00:00Z": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-31":           time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseExpiry(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: got %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1h", "0s", "yesterday", "2020-01-01", "-3d"} {
		if _, err := ParseExpiry(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMinNetRateIsTheEnginesFloor(t *testing.T) {
	if minNetRate != netns.MinEgressRate {
		t.Fatalf("rspec's smallest net_rate %d, the engine's %d", minNetRate, netns.MinEgressRate)
	}
}
