// Package store is the slice authority's state in etcd: sites, users,
// nodes, what each node last reported, slices with their overlay
// networks, and the exec jobs handed to nodes. Every write is either a
// transaction that creates a key only if it is absent or a
// read-modify-write guarded by the key's ModRevision and retried, so that
// several authority processes sharing one etcd never lose an update.
//
// Layout, under the prefix (default "/pcr/"):
//
//	sites/<site>             api.Site
//	users/<name>             api.User
//	nodes/<name>             NodeRecord (static fields + join token hash)
//	nodefence                last removed node (a node removal moves its ModRevision)
//	seen/<node>              Seen (last report; apart so a report does not rewrite the node)
//	slices/<name>            api.Slice
//	vni/<vni>                slice name (the VNI's reservation)
//	exec/<node>/<id>         api.ExecJob (leased: job timeout + 10 s)
//	execresult/<id>/<node>   api.ExecResult (leased: 60 s)
package store

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPrefix is where the authority's keys live unless told otherwise.
const DefaultPrefix = "/pcr/"

// Errors a caller tells apart (with errors.Is) to pick an HTTP status.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrConflict    = errors.New("too many concurrent updates")
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalidName: a name that cannot be a key part (empty, or with a
	// '/', as an escaped slash in a URL path gives).
	ErrInvalidName = errors.New("invalid name")
)

// UnknownNodeError is a slice write naming a node that is not recorded
// (or was removed while the write was being made).
type UnknownNodeError struct{ Node string }

func (e *UnknownNodeError) Error() string { return "unknown node " + e.Node }

// maxAttempts bounds a read-modify-write that keeps losing its compare:
// past it the caller gets ErrConflict rather than spinning.
const maxAttempts = 32

// Options tune a Store; the zero value gives the defaults.
type Options struct {
	// Prefix is the key prefix (default DefaultPrefix); it ends in "/".
	Prefix string
	// OverlayPool is where slice subnets (/24 each) come from (default
	// DefaultOverlayPool).
	OverlayPool netip.Prefix
	// TLS, for Open, is the client TLS to an external etcd whose
	// endpoints are https:// (nil: plain connections).
	TLS *tls.Config
}

// Store is the typed layer over an etcd client. It is safe for
// concurrent use; it holds no state of its own beyond its settings.
type Store struct {
	cli    *clientv3.Client
	owned  bool
	prefix string
	pool   netip.Prefix
}

// New wraps an existing client; Close leaves the client open.
func New(cli *clientv3.Client, opts Options) (*Store, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	pool := opts.OverlayPool
	if !pool.IsValid() {
		pool = netip.MustParsePrefix(DefaultOverlayPool)
	}
	if err := CheckOverlayPool(pool); err != nil {
		return nil, err
	}
	return &Store{cli: cli, prefix: prefix, pool: pool.Masked()}, nil
}

// Open connects to etcd at endpoints and checks within timeout that it
// answers, so that a wrong endpoint fails at start-up in one line and not
// on the first request.
func Open(ctx context.Context, endpoints []string, opts Options, log *slog.Logger, timeout time.Duration) (*Store, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("open store: no etcd endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          timeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  opts.TLS,
		Logger:               zapToSlog(log.With("component", "etcd-client"), slog.LevelWarn, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("open store at %s: %w", strings.Join(endpoints, ","), err)
	}
	s, err := New(cli, opts)
	if err != nil {
		cli.Close()
		return nil, err
	}
	s.owned = true
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := cli.Get(cctx, s.prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("open store: etcd at %s does not answer within %s: %w", strings.Join(endpoints, ","), timeout, err)
	}
	return s, nil
}

// Close closes the client if Open made it.
func (s *Store) Close() error {
	if s.owned {
		return s.cli.Close()
	}
	return nil
}

// Pool is the overlay pool slices' subnets come from.
func (s *Store) Pool() netip.Prefix { return s.pool }

// key joins parts under the prefix. Parts come from validated names, but
// the store refuses a '/' or an empty part anyway: one would let a name
// reach into another record's keys.
func (s *Store) key(parts ...string) (string, error) {
	for _, p := range parts {
		if p == "" || strings.Contains(p, "/") {
			return "", fmt.Errorf("%w %q: empty or holds a '/'", ErrInvalidName, p)
		}
	}
	return s.prefix + strings.Join(parts, "/"), nil
}

// dir is the prefix under which a kind of record lives ("slices/").
func (s *Store) dir(parts ...string) string {
	return s.prefix + strings.Join(parts, "/") + "/"
}

// unavailable marks an etcd error so callers answer 503.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// getJSON reads key into v and returns its ModRevision.
func (s *Store) getJSON(ctx context.Context, op, key string, v any) (int64, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return 0, unavailable(op, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("%s: corrupt record %s: %w", op, key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// createJSON puts v at key only if key does not exist, with extra ops in
// the same transaction.
func (s *Store) createJSON(ctx context.Context, op, key string, v any, extra ...clientv3.Op) (int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(append([]clientv3.Op{clientv3.OpPut(key, string(b))}, extra...)...).
		Commit()
	if err != nil {
		return 0, unavailable(op, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s: %w", op, ErrExists)
	}
	return resp.Header.Revision, nil
}

// update is a read-modify-write of the JSON record at key: fn changes it
// (or refuses with an error, which is returned as is), and the write
// succeeds only if nobody wrote key in between; otherwise it starts over.
func update[T any](ctx context.Context, s *Store, op, key string, fn func(*T) error) (*T, int64, error) {
	return updateGuarded(ctx, s, op, key, fn, nil)
}

// updateGuarded is update whose write also depends on records other than
// key: guard, called after fn on each attempt, checks them (or refuses
// with an error, returned as is) and returns the compares that must
// still hold when the write lands.
func updateGuarded[T any](ctx context.Context, s *Store, op, key string, fn func(*T) error,
	guard func(context.Context) ([]clientv3.Cmp, error)) (*T, int64, error) {
	for range maxAttempts {
		var v T
		rev, err := s.getJSON(ctx, op, key, &v)
		if err != nil {
			return nil, 0, err
		}
		if err := fn(&v); err != nil {
			return nil, 0, err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}
		if guard != nil {
			more, err := guard(ctx)
			if err != nil {
				return nil, 0, err
			}
			cmps = append(cmps, more...)
		}
		b, err := json.Marshal(&v)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", op, err)
		}
		resp, err := s.cli.Txn(ctx).
			If(cmps...).
			Then(clientv3.OpPut(key, string(b))).
			Commit()
		if err != nil {
			return nil, 0, unavailable(op, err)
		}
		if resp.Succeeded {
			return &v, resp.Header.Revision, nil
		}
	}
	return nil, 0, fmt.Errorf("%s: %w", op, ErrConflict)
}

// listJSON reads every record under dir in key order, with each one's
// ModRevision and the revision the list was read at.
func listJSON[T any](ctx context.Context, s *Store, op, dir string) ([]T, []int64, int64, error) {
	resp, err := s.cli.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, nil, 0, unavailable(op, err)
	}
	out, revs, err := decodeKVs[T](op, resp)
	return out, revs, resp.Header.Revision, err
}

func decodeKVs[T any](op string, resp *clientv3.GetResponse) ([]T, []int64, error) {
	out := make([]T, 0, len(resp.Kvs))
	revs := make([]int64, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt record %s: %w", op, kv.Key, err)
		}
		out = append(out, v)
		revs = append(revs, kv.ModRevision)
	}
	return out, revs, nil
}
