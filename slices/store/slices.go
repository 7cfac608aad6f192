package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pcr/slices/api"
)

// CreateSlice stores a new slice with its overlay: the lowest free VNI
// (see freeVNI for racing creates), reserved under vni/<vni> in the same
// transaction as the slice, its /24, and an address per node. ErrExists
// if the name is taken; an *UnknownNodeError if a node is not recorded,
// or is removed before the slice is stored. The slice is returned as
// stored, with Revision set.
func (s *Store) CreateSlice(ctx context.Context, sl api.Slice) (*api.Slice, error) {
	op := "create slice " + sl.Name
	key, err := s.key("slices", sl.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	fenceKey, _ := s.key(nodeFence)
	var fence int64
	if len(sl.Nodes) > 0 {
		if fence, err = s.nodesExist(ctx, op, sl.Nodes); err != nil {
			return nil, err
		}
	}
	vniDir := s.dir("vni")
	resp, err := s.cli.Get(ctx, vniDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, unavailable(op, err)
	}
	taken := resp.Kvs
	for lost := range maxAttempts {
		used := make(map[uint32]bool, len(taken))
		for _, kv := range taken {
			if v, err := strconv.ParseUint(string(kv.Key[len(vniDir):]), 10, 32); err == nil {
				used[uint32(v)] = true
			}
		}
		vni, err := s.freeVNI(used, lost)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		sl.Network = &api.SliceNetwork{VNI: vni, Subnet: s.subnetOf(vni).String()}
		if err := assignAddresses(sl.Name, sl.Network, sl.Nodes); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		sl.Revision = 0
		b, err := json.Marshal(sl)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		vniKey, _ := s.key("vni", vniKeyPart(vni))
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(vniKey), "=", 0)}
		if len(sl.Nodes) > 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(fenceKey), "=", fence))
		}
		tr, err := s.cli.Txn(ctx).
			If(cmps...).
			Then(clientv3.OpPut(key, string(b)), clientv3.OpPut(vniKey, sl.Name)).
			// On failure, say why and hand back the VNIs now taken, so
			// that a lost race costs one round trip, not two.
			Else(clientv3.OpGet(key, clientv3.WithCountOnly()),
				clientv3.OpGet(vniDir, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
				clientv3.OpGet(fenceKey)).
			Commit()
		if err != nil {
			return nil, unavailable(op, err)
		}
		if tr.Succeeded {
			sl.Revision = tr.Header.Revision
			return &sl, nil
		}
		if tr.Responses[0].GetResponseRange().Count > 0 {
			return nil, fmt.Errorf("%s: %w", op, ErrExists)
		}
		if len(sl.Nodes) > 0 && modRevision((*clientv3.GetResponse)(tr.Responses[2].GetResponseRange())) != fence {
			// A node was removed meanwhile: check the slice's again.
			if fence, err = s.nodesExist(ctx, op, sl.Nodes); err != nil {
				return nil, err
			}
		}
		// Another slice may have taken this VNI since we listed them.
		taken = tr.Responses[1].GetResponseRange().Kvs
	}
	return nil, fmt.Errorf("%s: %w", op, ErrConflict)
}

// GetSlice reads one slice; ErrNotFound if there is none.
func (s *Store) GetSlice(ctx context.Context, name string) (*api.Slice, error) {
	op := "read slice " + name
	key, err := s.key("slices", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var sl api.Slice
	rev, err := s.getJSON(ctx, op, key, &sl)
	if err != nil {
		return nil, err
	}
	sl.Revision = rev
	return &sl, nil
}

// ListSlices lists every slice in name order, and the revision read at.
func (s *Store) ListSlices(ctx context.Context) ([]api.Slice, int64, error) {
	all, revs, rev, err := listJSON[api.Slice](ctx, s, "list slices", s.dir("slices"))
	for i := range all {
		all[i].Revision = revs[i]
	}
	return all, rev, err
}

// UpdateSlice changes a slice with fn (see update) and then brings its
// overlay addresses in line with its nodes. Name and Network are not
// fn's to change. A node fn adds must be recorded and stay so until the
// write lands, else an *UnknownNodeError.
func (s *Store) UpdateSlice(ctx context.Context, name string, fn func(*api.Slice) error) (*api.Slice, error) {
	op := "update slice " + name
	key, err := s.key("slices", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	fenceKey, _ := s.key(nodeFence)
	var added []string
	sl, rev, err := updateGuarded(ctx, s, op, key, func(sl *api.Slice) error {
		name, network, before := sl.Name, sl.Network, slices.Clone(sl.Nodes)
		if err := fn(sl); err != nil {
			return err
		}
		sl.Name, sl.Network, sl.Revision = name, network, 0
		added = slices.DeleteFunc(slices.Clone(sl.Nodes), func(n string) bool { return slices.Contains(before, n) })
		if sl.Network == nil {
			return nil
		}
		return assignAddresses(sl.Name, sl.Network, sl.Nodes)
	}, func(ctx context.Context) ([]clientv3.Cmp, error) {
		if len(added) == 0 {
			return nil, nil
		}
		fence, err := s.nodesExist(ctx, op, added)
		if err != nil {
			return nil, err
		}
		return []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(fenceKey), "=", fence)}, nil
	})
	if err != nil {
		return nil, err
	}
	sl.Revision = rev
	return sl, nil
}

// DeleteSlice deletes a slice and frees its VNI; ErrNotFound if absent.
func (s *Store) DeleteSlice(ctx context.Context, name string) error {
	_, err := s.deleteSliceIf(ctx, name, func(*api.Slice) bool { return true })
	return err
}

// DeleteExpiredSlice deletes the slice only if it has expired by now, as
// read in the same compare-and-delete: a renewal that lands first wins.
// It says whether it deleted.
func (s *Store) DeleteExpiredSlice(ctx context.Context, name string, now time.Time) (bool, error) {
	ok, err := s.deleteSliceIf(ctx, name, func(sl *api.Slice) bool { return !now.Before(sl.Expires) })
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return ok, err
}

func (s *Store) deleteSliceIf(ctx context.Context, name string, pred func(*api.Slice) bool) (bool, error) {
	op := "delete slice " + name
	key, err := s.key("slices", name)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	for range maxAttempts {
		var sl api.Slice
		rev, err := s.getJSON(ctx, op, key, &sl)
		if err != nil {
			return false, err
		}
		if !pred(&sl) {
			return false, nil
		}
		ops := []clientv3.Op{clientv3.OpDelete(key)}
		if sl.Network != nil {
			vniKey, _ := s.key("vni", vniKeyPart(sl.Network.VNI))
			ops = append(ops, clientv3.OpDelete(vniKey))
		}
		tr, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(ops...).
			Commit()
		if err != nil {
			return false, unavailable(op, err)
		}
		if tr.Succeeded {
			return true, nil
		}
	}
	return false, fmt.Errorf("%s: %w", op, ErrConflict)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
