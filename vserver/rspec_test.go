package vserver

import (
	"strings"
	"testing"
)

func TestValidateOnNodeChecksThisNode(t *testing.T) {
	if err := validateOnNode(Rspec{Memory: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	mem := hostMemory()
	if mem == 0 {
		t.Fatal("sysinfo gave no memory")
	}
	err := validateOnNode(Rspec{Memory: Bytes(mem + 1<<30)})
	if err == nil || !strings.Contains(err.Error(), "more than the node's") {
		t.Fatalf("memory above the node's: %v", err)
	}
	if err := validateOnNode(Rspec{CPUCores: 4000}); err == nil || !strings.Contains(err.Error(), "cores") {
		t.Fatalf("cores above the node's: %v", err)
	}
}
