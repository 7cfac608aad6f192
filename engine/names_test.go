package engine

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestEngineStaleNameClaimedOnce: many creates find one stale name link
// at once; exactly one of them gets the name, and the link is its own.
func TestEngineStaleNameClaimedOnce(t *testing.T) {
	for round := range 20 {
		e := &Engine{root: t.TempDir(), log: os.Stderr}
		if err := os.MkdirAll(e.namePath(""), 0o700); err != nil {
			t.Fatal(err)
		}
		gone := strings.Repeat("0", 64)
		if err := os.Symlink(gone, e.namePath("web")); err != nil {
			t.Fatal(err)
		}
		const n = 8
		ids := make([]string, n)
		errs := make([]error, n)
		for i := range ids {
			ids[i] = strings.Repeat(fmt.Sprintf("%x", i+1), 64)
			os.Mkdir(e.dir(ids[i]), 0o700)
		}
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = e.claimName("web", ids[i]) }()
		}
		wg.Wait()
		winners := 0
		owner, _ := os.Readlink(e.namePath("web"))
		for i, err := range errs {
			if err == nil {
				winners++
				if owner != ids[i] {
					t.Errorf("round %d: %s won the name, the link names %s", round, ids[i][:4], owner)
				}
			} else if !strings.Contains(err.Error(), "already in use") {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d creates got the name", round, winners)
		}
		// The winner's release leaves no link; a loser's release does not
		// touch the winner's.
		for _, id := range ids {
			if id != owner {
				e.releaseName("web", id)
			}
		}
		if got, _ := os.Readlink(e.namePath("web")); got != owner {
			t.Fatalf("a loser's release removed the winner's link")
		}
		e.releaseName("web", owner)
		if _, err := os.Lstat(e.namePath("web")); !os.IsNotExist(err) {
			t.Fatalf("the winner's release left the link: %v", err)
		}
	}
}
