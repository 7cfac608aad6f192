package engine

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
)

// ErrNoSuchContainer is wrapped by every "no such container" error.
var ErrNoSuchContainer = errors.New("no such container")

// Compiled on first use, not at every pcr start (the container init is one).
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// ValidateName refuses names Docker refuses (and names that are paths).
func ValidateName(name string) error {
	if len(name) > 128 || !namePattern().MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// claimName makes the name link; os.Symlink fails when the name exists,
// so of two creates racing for one name exactly one wins. A link whose
// container is gone (a pcr killed while removing it) is stale and reused,
// under the names lock and after reading it again there: without it, a
// create could remove the link another create has just put in the stale
// one's place, and both would own the name.
func (e *Engine) claimName(name, id string) error {
	link := e.namePath(name)
	err := os.Symlink(id, link)
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("claim name %q: %w", name, err)
	}
	if owner, rerr := os.Readlink(link); rerr == nil && exists(e.dir(owner)) {
		return errNameInUse(name, owner)
	}
	unlock, err := e.lockNames()
	if err != nil {
		return err
	}
	defer unlock()
	owner, err := os.Readlink(link)
	switch {
	case err == nil && exists(e.dir(owner)):
		return errNameInUse(name, owner)
	case err == nil:
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("claim name %q: remove the stale link: %w", name, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("claim name %q: %w", name, err)
	}
	// A create that did not need the lock may still win the name here;
	// then the link is theirs and this one fails, as it should.
	if err := os.Symlink(id, link); err != nil {
		if owner, rerr := os.Readlink(link); rerr == nil && errors.Is(err, os.ErrExist) {
			return errNameInUse(name, owner)
		}
		return fmt.Errorf("claim name %q: %w", name, err)
	}
	return nil
}

func errNameInUse(name, owner string) error {
	return fmt.Errorf("the container name %q is already in use by container %s: remove or rename that container to reuse the name", name, owner)
}

// releaseName removes the name link if it still points to id, under the
// names lock, so that a link just made by a create that found this one
// stale is not the one removed.
func (e *Engine) releaseName(name, id string) {
	if name == "" {
		return
	}
	link := e.namePath(name)
	if owner, err := os.Readlink(link); err != nil || owner != id {
		return
	}
	unlock, err := e.lockNames()
	if err != nil {
		e.warnf("release name %q: %v", name, err)
		return
	}
	defer unlock()
	if owner, err := os.Readlink(link); err == nil && owner == id {
		os.Remove(link)
	}
}

// Lookup finds a container by full id, name, or unique id prefix.
func (e *Engine) Lookup(ref string) (string, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return "", fmt.Errorf("container name or id is empty: %w", ErrNoSuchContainer)
	}
	if isFullID(ref) && exists(e.dir(ref)) {
		return ref, nil
	}
	if ValidateName(ref) == nil {
		if id, err := os.Readlink(e.namePath(ref)); err == nil && isFullID(id) && exists(e.dir(id)) {
			return id, nil
		}
	}
	if isHex(ref) {
		entries, err := os.ReadDir(e.containersDir())
		if err != nil {
			return "", fmt.Errorf("list containers: %w", err)
		}
		var found []string
		for _, en := range entries {
			if isFullID(en.Name()) && strings.HasPrefix(en.Name(), ref) {
				found = append(found, en.Name())
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return "", fmt.Errorf("container id prefix %q is ambiguous: %d containers match", ref, len(found))
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNoSuchContainer, ref)
}

var (
	nameLeft  = []string{"brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "proud", "quiet", "sharp", "steady", "swift", "tender", "vivid", "witty", "bold", "clever", "gentle", "jolly"}
	nameRight = []string{"babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "knuth", "lamport", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wirth", "liskov", "hamilton", "tanenbaum"}
)

// autoName picks a Docker-style adjective_scientist name from the id's
// bytes; the short id itself is the fallback when those are taken.
func autoName(id string, attempt int) string {
	if attempt >= 3 {
		return "pcr_" + ShortID(id)
	}
	a := int(id[attempt*2]) + int(id[attempt*2+1])*7
	b := int(id[attempt*2+10]) + int(id[attempt*2+11])*13
	return nameLeft[a%len(nameLeft)] + "_" + nameRight[b%len(nameRight)]
}
