package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pcr/slices/api"
)

// NodeView is what one node's assignment is made from, all read at one
// store revision so that a slice and the node records it names agree.
type NodeView struct {
	Revision int64
	Slices   []api.Slice
	// Nodes are all node records by name: a slice's peers are the
	// underlay addresses of its other nodes.
	Nodes map[string]NodeRecord
	Jobs  []api.ExecJob
}

// ReadNodeView reads every slice, every node record and node's pending
// exec jobs in one transaction. ErrNotFound if the node
// does not exist.
func (s *Store) ReadNodeView(ctx context.Context, node string) (*NodeView, error) {
	op := "read assignment of node " + node
	key, err := s.key("nodes", node)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpGet(s.dir("slices"), clientv3.WithPrefix()),
			clientv3.OpGet(s.dir("nodes"), clientv3.WithPrefix()),
			clientv3.OpGet(s.dir("exec", node), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return nil, unavailable(op, err)
	}
	if !tr.Succeeded {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	v := &NodeView{Revision: tr.Header.Revision}
	sl, revs, err := decodeKVs[api.Slice](op, (*clientv3.GetResponse)(tr.Responses[0].GetResponseRange()))
	if err != nil {
		return nil, err
	}
	for i := range sl {
		sl[i].Revision = revs[i]
	}
	v.Slices = sl
	nodes, _, err := decodeKVs[NodeRecord](op, (*clientv3.GetResponse)(tr.Responses[1].GetResponseRange()))
	if err != nil {
		return nil, err
	}
	v.Nodes = make(map[string]NodeRecord, len(nodes))
	for _, n := range nodes {
		v.Nodes[n.Name] = n
	}
	if v.Jobs, _, err = decodeKVs[api.ExecJob](op, (*clientv3.GetResponse)(tr.Responses[2].GetResponseRange())); err != nil {
		return nil, err
	}
	return v, nil
}
