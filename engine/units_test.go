package engine

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{"12": 12, "1k": 1024, "1kb": 1024, "64m": 64 << 20, "1.5g": 3 << 29, "2G": 2 << 30, "10b": 10}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"12zb", "", "m", "-1", "1x", "1bb", "1.2.3m"} {
		if v, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, v)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	if v, err := ParseCPUs("1.5"); err != nil || v != 1_500_000_000 {
		t.Errorf("ParseCPUs(1.5) = %d, %v", v, err)
	}
	for _, in := range []string{"-1", "0", "abc", "0.001", "NaN"} {
		if v, err := ParseCPUs(in); err == nil {
			t.Errorf("ParseCPUs(%q) = %d, want an error", in, v)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	bad := []Options{
		{Name: "a/b"}, {Memory: 100}, {Memory: 64 << 20, MemorySwap: 32 << 20}, {CpusetCPUs: "3-1"},
		{Network: "container:"}, {Network: "we/ird"}, {Volumes: []string{"relative:/x"}}, {Volumes: []string{"/x"}},
		{CapAdd: []string{"NOT_A_CAP"}}, {SecurityOpt: []string{"apparmor=x"}}, {WorkingDir: "rel"},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) passed, want an error", o)
		}
	}
	good := Options{Name: "web-1", Memory: 64 << 20, MemorySwap: -1, CpusetCPUs: "0,1-1", Network: "host",
		Volumes: []string{"/tmp:/data:ro"}, Tmpfs: []string{"/run:size=1m"}, CapAdd: []string{"net_admin"}, CapDrop: []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined"}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}
