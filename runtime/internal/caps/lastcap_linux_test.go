package caps

import "testing"

func TestLastCapOnThisHost(t *testing.T) {
	last, err := LastCap()
	if err != nil {
		t.Fatal(err)
	}
	if last < Known-1 || last > maxLastCap {
		t.Errorf("LastCap = %d, want %d..%d (kernels since 5.9)", last, Known-1, maxLastCap)
	}
	// The fallback for a container without /proc must agree with the file.
	probed, err := probeLastCap()
	if err != nil {
		t.Fatal(err)
	}
	if probed != last {
		t.Errorf("probing found %d, %s says %d", probed, lastCapPath, last)
	}
}
