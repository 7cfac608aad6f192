package node

import (
	"slices"
	"testing"
)

func TestOfferedCapacity(t *testing.T) {
	host := NodeResources{CPUs: 8, Memory: 16 << 30}
	tests := []struct {
		name   string
		policy string
		cpus   float64
		memory uint64
	}{
		{name: "no policy offers the whole node", cpus: 8, memory: 16 << 30},
		{name: "a policy without a reserve offers the whole node", policy: `{"max_vservers":3}`, cpus: testNode.CPUs, memory: uint64(testNode.Memory)},
		{name: "the reserve is kept back", policy: `{"reserve":{"cpu_cores":1.5,"memory":"1G"}}`,
			cpus: testNode.CPUs - 1.5, memory: uint64(testNode.Memory) - 1<<30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pol *Policy
			if tt.policy != "" {
				pol = mustPolicy(t, tt.policy)
			}
			cpus, mem := offered(host, pol)
			if cpus != tt.cpus || mem != tt.memory {
				t.Errorf("offered = %g cores, %d bytes; want %g, %d", cpus, mem, tt.cpus, tt.memory)
			}
		})
	}
}

func TestImageNamesAreWhatUsersType(t *testing.T) {
	got := imageNames([]string{"debian-php:8.2", "busybox:latest", "127.0.0.1:5000/debian:latest", "busybox:1.36"})
	want := []string{"127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest", "busybox", "busybox:1.36", "busybox:latest", "debian-php:8.2"}
	if !slices.Equal(got, want) {
		t.Errorf("imageNames = %q\nwant %q", got, want)
	}
}
