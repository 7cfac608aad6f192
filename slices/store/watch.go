package store

import (
	"context"
	"encoding/json"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// rewatchDelay spaces out new watches after one broke, so that a store
// that keeps failing is not hammered.
const rewatchDelay = 200 * time.Millisecond

// WatchNode wakes its caller when anything that can change node's
// assignment is written after revision after: slices/, exec/<node>/, and
// of nodes/ the node's own record, a record created or removed, or a
// peer's new underlay address. A wake-up carries no detail: the caller
// reads again (ReadNodeView). Wake-ups coalesce; the channel closes when
// ctx ends. seen/ is left out: reports arrive every few seconds from
// every node and never change an assignment; so are node records
// rewritten for other fields, which would otherwise wake every node's
// stream on each one.
func (s *Store) WatchNode(ctx context.Context, node string, after int64) <-chan struct{} {
	wake := make(chan struct{}, 1)
	own := s.dir("nodes") + node
	watches := []struct {
		dir    string
		filter func(*clientv3.Event) bool
		opts   []clientv3.OpOption
	}{
		{dir: s.dir("slices")},
		{dir: s.dir("exec", node)},
		{dir: s.dir("nodes"), opts: []clientv3.OpOption{clientv3.WithPrevKV()}, filter: func(ev *clientv3.Event) bool {
			return string(ev.Kv.Key) == own || addressChanged(ev)
		}},
	}
	done := make(chan struct{}, len(watches))
	for _, w := range watches {
		go func() {
			defer func() { done <- struct{}{} }()
			s.watchDir(ctx, w.dir, after, w.filter, wake, w.opts...)
		}()
	}
	go func() {
		for range watches {
			<-done
		}
		close(wake)
	}()
	return wake
}

// addressChanged says whether a node record event may change a peer's
// view of it: a create, a delete, or a new Address. A record that cannot
// be read counts as changed.
func addressChanged(ev *clientv3.Event) bool {
	if ev.Type != clientv3.EventTypePut || ev.PrevKv == nil {
		return true
	}
	var before, after NodeRecord
	if json.Unmarshal(ev.PrevKv.Value, &before) != nil || json.Unmarshal(ev.Kv.Value, &after) != nil {
		return true
	}
	return before.Address != after.Address
}

// watchDir sends a wake-up for each batch of events under dir that
// filter keeps (nil keeps all). When its watch breaks it watches again
// from the revision after the last one it saw, so that nothing is
// missed; only when that history was compacted away does it watch from
// now, and then it wakes the caller once the new watch is in place, so
// that the caller's next read covers what the gap held.
func (s *Store) watchDir(ctx context.Context, dir string, after int64, filter func(*clientv3.Event) bool,
	wake chan<- struct{}, opts ...clientv3.OpOption) {
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	missed := false
	for ctx.Err() == nil {
		created := func() {
			if missed {
				missed = false
				notify()
			}
		}
		end := s.watchUntil(ctx, dir, &after, created, func(ev *clientv3.Event) bool {
			if filter == nil || filter(ev) {
				notify()
			}
			return false
		}, opts...)
		if ctx.Err() != nil {
			return
		}
		if end == watchCompacted {
			after, missed = 0, true
		}
		select {
		case <-ctx.Done():
		case <-time.After(rewatchDelay):
		}
	}
}

// watchEnd says why watchUntil returned.
type watchEnd int

const (
	watchStopped   watchEnd = iota // fn said stop
	watchBroke                     // ctx ended, or the watch failed: watch again from *after
	watchCompacted                 // the revisions after *after are gone
)

// watchUntil watches dir from revision *after+1 (from now when *after is
// 0), calls created once the watch is in place, then fn for each event
// until fn says stop, ctx ends or the watch breaks. *after follows the
// last revision seen, so that a new watch takes up where this one
// broke. A member that loses its leader breaks the watch rather than
// leaving it silently stale.
func (s *Store) watchUntil(ctx context.Context, dir string, after *int64, created func(),
	fn func(*clientv3.Event) bool, opts ...clientv3.OpOption) watchEnd {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts = append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCreatedNotify()}, opts...)
	if *after > 0 {
		opts = append(opts, clientv3.WithRev(*after+1))
	}
	for wr := range s.cli.Watch(wctx, dir, opts...) {
		if wr.CompactRevision != 0 {
			return watchCompacted
		}
		if wr.Err() != nil || wr.Canceled {
			return watchBroke
		}
		if wr.Created {
			if *after == 0 {
				*after = wr.Header.Revision
			}
			if created != nil {
				created()
			}
			continue
		}
		if len(wr.Events) == 0 {
			// A progress notice: nothing under dir up to its revision.
			*after = max(*after, wr.Header.Revision)
			continue
		}
		for _, ev := range wr.Events {
			// A batch holds every event of a revision; events come in
			// revision order.
			*after = ev.Kv.ModRevision
			if fn(ev) {
				return watchStopped
			}
		}
	}
	return watchBroke
}
