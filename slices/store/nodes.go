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
// (Name, Address, Capacity, Added, Joined) and, until the node joins, the
// hash of its one-time join token. LastSeen, Health and Vservers are not
// stored here: they come from Seen when a node is read for a caller.
type NodeRecord struct {
	api.Node
	TokenHash string `json:"tokenHash,omitempty"`
}

// Seen is seen/<node>: when the node last reported, and what.
type Seen struct {
	LastSeen time.Time  `json:"lastSeen"`
	Report   api.Report `json:"report"`
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
// It returns the slices it changed.
func (s *Store) RemoveNode(ctx context.Context, name string) ([]string, error) {
	op := "remove node " + name
	key, err := s.key("nodes", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	seenKey, _ := s.key("seen", name)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpDelete(key), clientv3.OpDelete(seenKey),
			clientv3.OpDelete(s.dir("exec", name), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return nil, unavailable(op, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	// The node is gone first so that no new slice can pass the node
	// checks while the old ones are being edited.
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
