package authority

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"pcr/rspec"
	"pcr/slices/api"
	"pcr/slices/store"
)

// checkExpiry resolves a requested expiry (zero: DefaultLifetime from
// now) and refuses one in the past or past the cap.
func checkExpiry(want, now time.Time) (time.Time, error) {
	if want.IsZero() {
		return now.Add(api.DefaultLifetime).UTC().Truncate(time.Second), nil
	}
	if !want.After(now) {
		return time.Time{}, badRequest("expiry %s is in the past", stamp(want))
	}
	if limit := now.Add(api.MaxLifetime); want.After(limit) {
		return time.Time{}, badRequest("expiry %s is past the cap of %s from now (at most %s)", stamp(want), weeks(api.MaxLifetime), stamp(limit))
	}
	return want.UTC(), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func weeks(d time.Duration) string {
	return fmt.Sprintf("%d weeks", int(d/(7*24*time.Hour)))
}

// checkOwners: each owner is a known user of the slice's site, named once.
func (s *Server) checkOwners(ctx context.Context, site string, owners []string) error {
	for i, o := range owners {
		if slices.Contains(owners[:i], o) {
			return badRequest("owner %s is named twice", o)
		}
		u, err := s.st.GetUser(ctx, o)
		if isNotFound(err) {
			return badRequest("unknown user %s", o)
		}
		if err != nil {
			return err
		}
		if u.Site != site {
			return badRequest("user %s is not of site %s", o, site)
		}
	}
	return nil
}

// checkNodes: each node to be added exists, has joined and reported, has
// the slice's image, can hold its rspec and has room under its owner's
// cap. slice is the slice's name (its own vserver does not count
// against a cap it already holds).
func (s *Server) checkNodes(ctx context.Context, slice, image string, rs rspec.Rspec, add []string) error {
	if len(add) == 0 {
		return nil
	}
	for i, n := range add {
		if slices.Contains(add[:i], n) {
			return badRequest("node %s is named twice", n)
		}
	}
	recs, err := s.st.ListNodes(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]store.NodeRecord, len(recs))
	for _, r := range recs {
		byName[r.Name] = r
	}
	seen, err := s.st.ListSeen(ctx)
	if err != nil {
		return err
	}
	var load map[string]int
	for _, n := range add {
		rec, ok := byName[n]
		if !ok {
			return badRequest("unknown node %s", n)
		}
		if rec.Joined.IsZero() {
			return badRequest("node %s has not joined yet", n)
		}
		sn, ok := seen[n]
		if !ok {
			return badRequest("node %s has not reported yet", n)
		}
		if !hasImage(sn.Report.Images, image) {
			has := "none"
			if len(sn.Report.Images) > 0 {
				has = strings.Join(sn.Report.Images, ", ")
			}
			return badRequest("node %s has no image %s (it has %s)", n, image, has)
		}
		c := sn.Report.Capacity
		if err := rs.FitsNode(c.CPUs, c.Memory, c.NofileMax); err != nil {
			return badRequest("node %s: %v", n, err)
		}
		if c.MaxVservers > 0 {
			if load == nil {
				if load, err = s.vserversPerNode(ctx, slice); err != nil {
					return err
				}
			}
			if load[n] >= c.MaxVservers {
				return badRequest("node %s is full: its owner allows %d vservers", n, c.MaxVservers)
			}
		}
	}
	return nil
}

// vserversPerNode counts, per node, the slices other than except that
// list it.
func (s *Server) vserversPerNode(ctx context.Context, except string) (map[string]int, error) {
	all, _, err := s.st.ListSlices(ctx)
	if err != nil {
		return nil, err
	}
	load := make(map[string]int)
	for _, sl := range all {
		if sl.Name == except {
			continue
		}
		for _, n := range sl.Nodes {
			load[n]++
		}
	}
	return load, nil
}

// hasImage matches "img" and "img:latest" as the same image, both ways.
func hasImage(images []string, want string) bool {
	norm := func(s string) string { return strings.TrimSuffix(s, ":latest") }
	for _, im := range images {
		if norm(im) == norm(want) {
			return true
		}
	}
	return false
}
