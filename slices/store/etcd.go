package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// maxUnixPath keeps the client socket's path within sun_path (108 bytes
// with its NUL); under a longer root the socket goes in a private
// directory of its own under /run (or the temp dir).
const maxUnixPath = 100

// Embedded is an etcd member running inside this process, holding a lock
// on its data directory so that a second process cannot start on it.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	lock      *os.File
	// sockDir is the private directory holding the client socket when
	// the root's path is too long for one; removed on Close.
	sockDir   string
	closing   *atomic.Bool
	closeOnce sync.Once
}

// Endpoints are the client URLs to reach the member with.
func (e *Embedded) Endpoints() []string { return e.endpoints }

// IsLeader says whether this member leads its cluster now.
func (e *Embedded) IsLeader() bool { return e.etcd.Server.Leader() == e.etcd.Server.MemberID() }

// Err delivers a fatal error of the running member.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the member and releases its data directory; calls after
// the first do nothing.
func (e *Embedded) Close() {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.etcd.Close()
		if e.sockDir != "" {
			os.RemoveAll(e.sockDir)
		}
		if e.lock != nil {
			e.lock.Close()
		}
	})
}

// StartEmbedded starts the authority's own single-member etcd with its
// data in <root>/etcd. Clients reach it on the unix socket
// <root>/etcd.sock: no TCP port to collide with other authorities or
// tests, and only who may enter root can talk to it. When that path is
// too long for a socket, the socket goes in a new private (0700)
// directory under /run, removed on Close. Its peer listener, which a
// single member never dials, takes a free loopback port: embed reads a
// unix peer URL's host as a path relative to the working directory, so
// it cannot be put in a directory of the authority's own.
func StartEmbedded(root string, log *slog.Logger, readyTimeout time.Duration) (*Embedded, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("start etcd in %s: %w", root, err)
	}
	sock, sockDir := filepath.Join(root, "etcd.sock"), ""
	if len(sock) > maxUnixPath {
		if sockDir, err = shortPrivateDir(); err != nil {
			return nil, fmt.Errorf("start etcd in %s: %w", root, err)
		}
		sock = filepath.Join(sockDir, "etcd.sock")
	}
	emb, err := startMember(MemberConfig{
		Name:           "authority",
		DataDir:        filepath.Join(root, "etcd"),
		ClientURL:      "unix://" + sock,
		PeerURL:        "http://127.0.0.1:0",
		InitialCluster: "authority=http://127.0.0.1:0",
		Log:            log,
		ReadyTimeout:   readyTimeout,
	})
	if err != nil {
		if sockDir != "" {
			os.RemoveAll(sockDir)
		}
		return nil, err
	}
	emb.sockDir = sockDir
	return emb, nil
}

// shortPrivateDir makes a directory only its owner may enter, under /run
// or, where that cannot be written, the temp dir, with a path short
// enough for a socket in it.
func shortPrivateDir() (string, error) {
	var errs []error
	for _, parent := range []string{"/run", os.TempDir()} {
		dir, err := os.MkdirTemp(parent, "pcr-etcd-")
		if err == nil && len(dir)+len("/etcd.sock") <= maxUnixPath {
			return dir, nil
		}
		if err == nil {
			os.Remove(dir)
			err = fmt.Errorf("%s: path too long for a socket", dir)
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("make a directory for the etcd socket: %w", errors.Join(errs...))
}

// MemberConfig describes one member of a static etcd cluster.
type MemberConfig struct {
	Name    string
	DataDir string
	// ClientURL and PeerURL are listened on and advertised as they are.
	ClientURL string
	PeerURL   string
	// InitialCluster is "n1=PEERURL,n2=PEERURL,..." naming every member.
	InitialCluster string
	// Token tells this cluster apart from others (default "pcr").
	Token string
	Log   *slog.Logger
	// ReadyTimeout bounds the wait for the member to serve: for a cluster
	// that means until a quorum of members is up.
	ReadyTimeout time.Duration
}

// StartMember starts one member of a static multi-member cluster (what
// `pcr-authority etcd` runs, and tests), waiting until it serves.
func StartMember(cfg MemberConfig) (*Embedded, error) {
	if cfg.Name == "" || cfg.DataDir == "" || cfg.ClientURL == "" || cfg.PeerURL == "" || cfg.InitialCluster == "" {
		return nil, fmt.Errorf("start etcd member: name, data dir, client URL, peer URL and initial cluster are all needed")
	}
	return startMember(cfg)
}

func startMember(mc MemberConfig) (*Embedded, error) {
	op := fmt.Sprintf("start etcd member %s in %s", mc.Name, mc.DataDir)
	if mc.Log == nil {
		mc.Log = slog.New(slog.DiscardHandler)
	}
	if mc.ReadyTimeout <= 0 {
		mc.ReadyTimeout = 30 * time.Second
	}
	if mc.Token == "" {
		mc.Token = "pcr"
	}
	client, err := url.Parse(mc.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("%s: client URL: %w", op, err)
	}
	peer, err := url.Parse(mc.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("%s: peer URL: %w", op, err)
	}
	if err := os.MkdirAll(filepath.Dir(mc.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	lock, err := lockDir(mc.DataDir + ".lock")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}

	cfg := embed.NewConfig()
	cfg.Name = mc.Name
	cfg.Dir = mc.DataDir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	// The advertised client URL must be host:port, which a unix socket
	// path is not; nothing dials it (clients are given the endpoints),
	// it only shows in the member list.
	cfg.AdvertiseClientUrls = []url.URL{*client}
	if client.Scheme == "unix" {
		cfg.AdvertiseClientUrls = []url.URL{{Scheme: "http", Host: "127.0.0.1:0"}}
	}
	cfg.InitialCluster = mc.InitialCluster
	cfg.InitialClusterToken = mc.Token
	cfg.EnableGRPCGateway = false
	// The authority rewrites seen/<node> on every report: without
	// compaction the history would grow without end.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	closing := new(atomic.Bool)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(mc.Log.With("component", "etcd", "member", mc.Name), slog.LevelWarn, closing))
	// NewConfig leaves this at 0, which logs every request as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: %s", op, oneLine(err))
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		lock.Close()
		return nil, fmt.Errorf("%s: %s", op, oneLine(err))
	case <-time.After(mc.ReadyTimeout):
		closing.Store(true)
		e.Server.Stop()
		e.Close()
		lock.Close()
		return nil, fmt.Errorf("%s: not ready within %s (for a cluster: are a majority of the members in %s up?)", op, mc.ReadyTimeout, mc.InitialCluster)
	}
	emb := &Embedded{etcd: e, lock: lock, closing: closing}
	for _, l := range e.Clients {
		if client.Scheme == "unix" {
			emb.endpoints = append(emb.endpoints, "unix://"+l.Addr().String())
		} else {
			emb.endpoints = append(emb.endpoints, client.Scheme+"://"+l.Addr().String())
		}
	}
	return emb, nil
}

// lockDir takes an exclusive, non-blocking lock on path (created if
// missing); the lock lasts as long as the returned file is open.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is held by another process (another authority or etcd member runs on this directory)", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
