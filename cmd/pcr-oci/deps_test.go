package main

import (
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// The runtime binary is worth having only while it stays slim: every
// package linked in runs its init on each `pcr-oci run`.
func TestLinksOnlyTheRuntime(t *testing.T) {
	goTool := "go"
	if root := goruntime.GOROOT(); root != "" { // empty under -trimpath
		goTool = filepath.Join(root, "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-tags", "osusergo,netgo,urfave_cli_no_docs", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	heavy := []string{"prometheus", "go-containerregistry", "nftables", "etcd", "protobuf", "netlink",
		"pcr/engine", "pcr/image", "pcr/netns", "pcr/vserver", "pcr/slices", "pcr/cli\n",
		// a CLI library and what it drags in: a third of the binary's pages, 0.7 ms of init
		"urfave", "text/template", "regexp\n",
		// half a megabyte of code and tables, most of it resident on every run: use pcr/internal/jsonlite
		"encoding/json"}
	deps := string(out)
	for _, h := range heavy {
		if strings.Contains(deps, h) {
			t.Errorf("pcr-oci links %s", strings.TrimSpace(h))
		}
	}
	// fmt's printer drags in reflect's Value machinery and float formatting:
	// about 170 KiB of the peak RSS of every run. pcr's packages format
	// through pcr/internal/fmtlite; these dependencies import fmt.
	linked := map[string]bool{}
	for _, p := range strings.Split(deps, "\n") {
		linked[p] = true
	}
	for _, p := range []string{"fmt", "os/user", "encoding/hex", "golang.org/x/term",
		"github.com/moby/sys/capability", "github.com/moby/sys/mountinfo"} {
		if linked[p] {
			t.Errorf("pcr-oci links %s (and with it fmt)", p)
		}
	}
	// os/signal's first Notify costs three to four threads, os/exec links
	// context and godebug settings: pcr/runtime/internal/sigrelay and
	// pcr/internal/program do their work here.
	for _, p := range []string{"os/signal", "os/exec", "context"} {
		if linked[p] {
			t.Errorf("pcr-oci links %s", p)
		}
	}
	if !strings.Contains(deps, "pcr/runtime\n") {
		t.Errorf("pcr-oci does not link pcr/runtime; go list said:\n%s", deps)
	}
}
