package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// rewatchDelay spaces out new watches after one broke, so that a store
// that keeps failing is not hammered.
const rewatchDelay = 200 * time.Millisecond

// WatchNode wakes its caller when anything that can change node's
// assignment is written after revision after: slices/, nodes/ and
// exec/<node>/. A wake-up carries no detail: the caller reads again
// (ReadNodeView). Wake-ups coalesce; the channel closes when ctx ends.
// seen/ is left out: reports arrive every few seconds from every node and
// never change an assignment.
func (s *Store) WatchNode(ctx context.Context, node string, after int64) <-chan struct{} {
	wake := make(chan struct{}, 1)
	dirs := []string{s.dir("slices"), s.dir("nodes"), s.dir("exec", node)}
	done := make(chan struct{}, len(dirs))
	for _, dir := range dirs {
		go func() {
			defer func() { done <- struct{}{} }()
			s.watchDir(ctx, dir, after, wake)
		}()
	}
	go func() {
		for range dirs {
			<-done
		}
		close(wake)
	}()
	return wake
}

// watchDir sends a wake-up for each batch of events under dir, and one
// whenever its watch breaks (events may have been missed, e.g. after a
// compaction), then watches again from the current revision.
func (s *Store) watchDir(ctx context.Context, dir string, after int64, wake chan<- struct{}) {
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		s.watchUntil(ctx, dir, after, func(*clientv3.Event) bool {
			notify()
			return false
		})
		if ctx.Err() != nil {
			return
		}
		notify()
		after = 0
		select {
		case <-ctx.Done():
		case <-time.After(rewatchDelay):
		}
	}
}

// watchUntil watches dir from revision after+1 (from now when after is
// 0) and calls fn for each event until fn says stop (true), ctx ends or
// the watch breaks (false). A member that loses its leader breaks the
// watch rather than leaving it silently stale.
func (s *Store) watchUntil(ctx context.Context, dir string, after int64, fn func(*clientv3.Event) bool) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if after > 0 {
		opts = append(opts, clientv3.WithRev(after+1))
	}
	for wr := range s.cli.Watch(wctx, dir, opts...) {
		if wr.Err() != nil || wr.Canceled {
			return false
		}
		for _, ev := range wr.Events {
			if fn(ev) {
				return true
			}
		}
	}
	return false
}
