package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pcr/slices/api"
)

// CreateUser records u and, in the same transaction, its site if the site
// is new. ErrExists if a user of that name exists.
func (s *Store) CreateUser(ctx context.Context, u api.User) error {
	op := "create user " + u.Name
	key, err := s.key("users", u.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var extra []clientv3.Op
	if u.Site != "" {
		siteKey, err := s.key("sites", u.Site)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		b, err := json.Marshal(api.Site{Name: u.Site, Created: u.Created})
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		// A nested txn: the site is written only when absent, and the
		// user's creation does not depend on whether it was.
		extra = append(extra, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(siteKey), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(siteKey, string(b))}, nil))
	}
	_, err = s.createJSON(ctx, op, key, u, extra...)
	return err
}

// GetUser reads one user; ErrNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, name string) (*api.User, error) {
	op := "read user " + name
	key, err := s.key("users", name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var u api.User
	if _, err := s.getJSON(ctx, op, key, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListUsers lists every user in name order.
func (s *Store) ListUsers(ctx context.Context) ([]api.User, error) {
	users, _, _, err := listJSON[api.User](ctx, s, "list users", s.dir("users"))
	return users, err
}

// ListSites lists every site in name order.
func (s *Store) ListSites(ctx context.Context) ([]api.Site, error) {
	sites, _, _, err := listJSON[api.Site](ctx, s, "list sites", s.dir("sites"))
	return sites, err
}
