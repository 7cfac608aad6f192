package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"pcr/slices/store"
)

// etcdMember runs one member of a static etcd cluster until ctx ends: a three-member cluster for tests and benchmarks without a
// distribution's etcd-server.
func etcdMember(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "this member's name, as in --initial-cluster")
	dataDir := fs.String("data-dir", "", "the member's data directory")
	client := fs.String("listen-client", "", "client URL to listen on and advertise (http://IP:PORT or unix:///path)")
	peer := fs.String("listen-peer", "", "peer URL to listen on and advertise (http://IP:PORT)")
	cluster := fs.String("initial-cluster", "", "every member: n1=PEERURL,n2=PEERURL,n3=PEERURL")
	token := fs.String("initial-cluster-token", "pcr", "tells this cluster apart from others")
	ready := fs.Duration("ready-timeout", time.Minute, "how long to wait for a quorum of members")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(*logFormat, stderr)
	if err != nil {
		return err
	}
	m, err := store.StartMember(store.MemberConfig{
		Name: *name, DataDir: *dataDir, ClientURL: *client, PeerURL: *peer,
		InitialCluster: *cluster, Token: *token, Log: log, ReadyTimeout: *ready,
	})
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(stderr, "pcr etcd member %s serving %s\n", *name, m.Endpoints()[0])
	select {
	case <-ctx.Done():
		return nil
	case err := <-m.Err():
		return fmt.Errorf("etcd member %s: %w", *name, err)
	}
}
