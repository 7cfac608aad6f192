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

// NodeRecord is what nodes/<name> holds: the node's lasting fields
// (Name, Address, Added, Joined), until the node joins the hash of its
// one-time join token, and after it the serial of the certificate the
// join issued. LastSeen, Health, Capacity and Vservers are not stored
// here: they come from Seen when a node is read for a caller.
type NodeRecord struct {
	api.Node
	TokenHash string `json:"tokenHash,omitempty"`
	// CertSerial (hex) is the only node certificate accepted: one issued
	// before the node was removed and added again is refused.
	CertSerial string `json:"certSerial,omitempty"`
}

// Seen is seen/<node>: when the node last reported, and what.
type Seen struct {
	LastSeen time.Time  `json:"lastSeen"`
	Report   api.Report `json:"report"`
}

// nodeFence is the key every node removal writes. A slice write that
// names nodes checks them first and then compares the fence's
// ModRevision unchanged, so that a node removed in between fails the
// write rather than staying listed: one compare however many nodes the
// slice has (etcd takes at most 128 per transaction).
const nodeFence = "nodefence"

// nodesExist checks that every node in names has a record and returns
// the fence's ModRevision read at the same revision.
func (s *Store) nodesExist(ctx context.Context, op string, names []string) (int64, error) {
	for _, n := range names {
		if _, err := s.key("nodes", n); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
	}
	fenceKey, _ := s.key(nodeFence)
	dir := s.dir("nodes")
	tr, err := s.cli.Txn(ctx).
		Then(clientv3.OpGet(fenceKey), clientv3.OpGet(dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, unavailable(op, err)
	}
	have := make(map[string]bool)
	for _, kv := range tr.Responses[1].GetResponseRange().Kvs {
		have[string(kv.Key[len(dir):])] = true
	}
	for _, n := range names {
		if !have[n] {
			return 0, fmt.Errorf("%s: %w", op, &UnknownNodeError{Node: n})
		}
	}
	return modRevision((*clientv3.GetResponse)(tr.Responses[0].GetResponseRange())), nil
}

// modRevision is the ModRevision of the one key read, 0 if it is absent.
func modRevision(resp *clientv3.GetResponse) int64 {
	if len(resp.Kvs) == 0 {
		return 0
	}
	return resp.Kvs[0].ModRevision
}

// CreateNode records a new node; ErrExists if one of that name exists.
func (s *Store) CreateNode(ctx context.Context, n NodeRecord) error {
	op := "add node " + n.Name
	key, err := s.key("nodes", n.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = s.createJSON(ctx, op, key, n)
	return err
}

// GetNode reads one node record; ErrNotFound if there is none.
func (s *Store) GetNode(ctx context.Context, name string) (*NodeRecord, error) {
	op := "read node " + name
	key, err := s.key("nodes", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var n NodeRecord
	if _, err := s.getJSON(ctx, op, key, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// ListNodes lists every node record in name order.
func (s *Store) ListNodes(ctx context.Context) ([]NodeRecord, error) {
	nodes, _, _, err := listJSON[NodeRecord](ctx, s, "list nodes", s.dir("nodes"))
	return nodes, err
}

// UpdateNode changes a node record with fn (see update): a join consumes
// its token this way, so two joins racing with one token cannot both win.
func (s *Store) UpdateNode(ctx context.Context, name string, fn func(*NodeRecord) error) (*NodeRecord, error) {
	op := "update node " + name
	key, err := s.key("nodes", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	n, _, err := update(ctx, s, op, key, fn)
	return n, err
}

// RemoveNode deletes a node with what it reported and its pending exec
// jobs, then takes it out of every slice (freeing its overlay address).
// It returns the slices it changed. A remove that failed halfway is
// retried the same way: the slices are scrubbed even when the record is
// already gone, and ErrNotFound comes only when no slice lists the name
// either.
func (s *Store) RemoveNode(ctx context.Context, name string) ([]string, error) {
	op := "remove node " + name
	key, err := s.key("nodes", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	seenKey, _ := s.key("seen", name)
	fenceKey, _ := s.key(nodeFence)
	// The node is gone, and the fence moved, before the slices are
	// edited, so that no slice write that checked the node earlier can
	// still add it.
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpDelete(key), clientv3.OpDelete(seenKey),
			clientv3.OpDelete(s.dir("exec", name), clientv3.WithPrefix()),
			clientv3.OpPut(fenceKey, name)).
		Commit()
	if err != nil {
		return nil, unavailable(op, err)
	}
	all, _, err := s.ListSlices(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var changed []string
	for _, sl := range all {
		if !slices.Contains(sl.Nodes, name) {
			continue
		}
		_, err := s.UpdateSlice(ctx, sl.Name, func(sl *api.Slice) error {
			sl.Nodes = slices.DeleteFunc(sl.Nodes, func(n string) bool { return n == name })
			return nil
		})
		if err != nil && !isNotFound(err) {
			return changed, fmt.Errorf("%s: %w", op, err)
		}
		changed = append(changed, sl.Name)
	}
	if !resp.Succeeded && len(changed) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return changed, nil
}

// PutSeen records a node's report. ErrNotFound if the node was removed,
// so that a removed node's heartbeat does not bring its record back.
func (s *Store) PutSeen(ctx context.Context, name string, seen Seen) error {
	op := "record report of node " + name
	key, err := s.key("nodes", name)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	seenKey, _ := s.key("seen", name)
	b, err := json.Marshal(seen)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpPut(seenKey, string(b))).
		Commit()
	if err != nil {
		return unavailable(op, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// GetSeen reads a node's last report; ErrNotFound if it never reported.
func (s *Store) GetSeen(ctx context.Context, name string) (*Seen, error) {
	op := "read report of node " + name
	key, err := s.key("seen", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var seen Seen
	if _, err := s.getJSON(ctx, op, key, &seen); err != nil {
		return nil, err
	}
	return &seen, nil
}

// ListSeen reads every node's last report, by node name.
func (s *Store) ListSeen(ctx context.Context) (map[string]Seen, error) {
	dir := s.dir("seen")
	resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list node reports", err)
	}
	out := make(map[string]Seen, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var seen Seen
		if err := json.Unmarshal(kv.Value, &seen); err != nil {
			return nil, fmt.Errorf("list node reports: corrupt record %s: %w", kv.Key, err)
		}
		out[string(kv.Key[len(dir):])] = seen
	}
	return out, nil
}
