package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pcr/slices/api"
)

// txnChunk bounds the operations of one transaction below etcd's
// default limit of 128 (--max-txn-ops), so that a job for every node of
// a large slice goes out in several.
const txnChunk = 100

// resultTTL is how long a node's answer waits for the authority that
// asked; past it nobody is waiting any more.
const resultTTL = 60 * time.Second

// PutExecJobs hands job to every node in nodes (exec/<node>/<id>) under
// one lease of ttl, so that a job nobody answers goes away by itself.
// Past txnChunk nodes the jobs go out in several transactions; if one
// fails, the lease is revoked so that no node runs a job its caller was
// told failed.
func (s *Store) PutExecJobs(ctx context.Context, nodes []string, job api.ExecJob, ttl time.Duration) error {
	op := "queue exec job " + job.ID
	b, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	keys := make([]string, 0, len(nodes))
	for _, n := range nodes {
		key, err := s.key("exec", n, job.ID)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		keys = append(keys, key)
	}
	lease, err := s.cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return unavailable(op, err)
	}
	ops := make([]clientv3.Op, 0, len(keys))
	for _, key := range keys {
		ops = append(ops, clientv3.OpPut(key, string(b), clientv3.WithLease(lease.ID)))
	}
	if err := s.commitChunked(ctx, ops); err != nil {
		s.cli.Revoke(context.WithoutCancel(ctx), lease.ID)
		return unavailable(op, err)
	}
	return nil
}

// commitChunked commits ops in transactions of at most txnChunk each.
func (s *Store) commitChunked(ctx context.Context, ops []clientv3.Op) error {
	for chunk := range slices.Chunk(ops, txnChunk) {
		if _, err := s.cli.Txn(ctx).Then(chunk...).Commit(); err != nil {
			return err
		}
	}
	return nil
}

// ExecJobs lists the jobs waiting for a node.
func (s *Store) ExecJobs(ctx context.Context, node string) ([]api.ExecJob, error) {
	if _, err := s.key("exec", node); err != nil {
		return nil, fmt.Errorf("list exec jobs of %s: %w", node, err)
	}
	jobs, _, _, err := listJSON[api.ExecJob](ctx, s, "list exec jobs of "+node, s.dir("exec", node))
	return jobs, err
}

// PutExecResult stores a node's answer to job id and removes the job, so
// that the node does not see it again. ErrNotFound if the node has no
// such job (never given, already answered, or expired).
func (s *Store) PutExecResult(ctx context.Context, node, id string, res api.ExecResult) error {
	op := fmt.Sprintf("record exec result %s of node %s", id, node)
	jobKey, err := s.key("exec", node, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resKey, _ := s.key("execresult", id, node)
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	lease, err := s.cli.Grant(ctx, int64(resultTTL/time.Second))
	if err != nil {
		return unavailable(op, err)
	}
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(jobKey), ">", 0)).
		Then(clientv3.OpPut(resKey, string(b), clientv3.WithLease(lease.ID)), clientv3.OpDelete(jobKey)).
		Commit()
	if err != nil {
		return unavailable(op, err)
	}
	if !tr.Succeeded {
		s.cli.Revoke(context.WithoutCancel(ctx), lease.ID)
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// WaitExecResults collects the answers to job id from the nodes in want
// until all have answered or ctx ends; it returns what it got, by node.
// Only a failing store is an error: a deadline just ends the wait.
func (s *Store) WaitExecResults(ctx context.Context, id string, want []string) (map[string]api.ExecResult, error) {
	op := "wait for exec results of " + id
	if _, err := s.key("execresult", id); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	dir := s.dir("execresult", id)
	got := make(map[string]api.ExecResult, len(want))
	done := func() bool {
		for _, n := range want {
			if _, ok := got[n]; !ok {
				return false
			}
		}
		return true
	}
	add := func(key, value []byte) {
		var r api.ExecResult
		if json.Unmarshal(value, &r) == nil {
			got[string(key[len(dir):])] = r
		}
	}
	for {
		resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix())
		if err != nil {
			if ctx.Err() != nil {
				return got, nil
			}
			return got, unavailable(op, err)
		}
		for _, kv := range resp.Kvs {
			add(kv.Key, kv.Value)
		}
		if done() {
			return got, nil
		}
		after := resp.Header.Revision
		if s.watchUntil(ctx, dir, &after, nil, func(ev *clientv3.Event) bool {
			if ev.Type == clientv3.EventTypePut {
				add(ev.Kv.Key, ev.Kv.Value)
			}
			return done()
		}) == watchStopped {
			return got, nil
		}
		if ctx.Err() != nil {
			return got, nil
		}
		// The watch broke (a member went away, or compaction): read
		// again, then watch again.
		select {
		case <-ctx.Done():
			return got, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CancelExecJobs removes job id from nodes that have not taken it, so
// that a late node does not run a command nobody waits for any more.
func (s *Store) CancelExecJobs(ctx context.Context, id string, nodes []string) error {
	ops := make([]clientv3.Op, 0, len(nodes))
	for _, n := range nodes {
		key, err := s.key("exec", n, id)
		if err != nil {
			return fmt.Errorf("cancel exec job %s: %w", id, err)
		}
		ops = append(ops, clientv3.OpDelete(key))
	}
	if err := s.commitChunked(ctx, ops); err != nil {
		return unavailable("cancel exec job "+id, err)
	}
	return nil
}
