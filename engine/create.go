package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/image"
)

// Create makes a container from imageRef without starting it: the record
// first (so a kill at any later point leaves something rm -f can undo),
// the name, then the bundle: config.json, rootfs/ (the overlay's
// mountpoint, mounted at start), upper/, work/ and the /etc files.
func (e *Engine) Create(imageRef string, o Options) (*Record, error) {
	rec, _, err := e.create(imageRef, o)
	return rec, err
}

// create is Create that also returns the spec it wrote to config.json.
func (e *Engine) create(imageRef string, o Options) (*Record, *specs.Spec, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	store, err := e.Images()
	if err != nil {
		return nil, nil, err
	}
	// rmi and prune wait until the record names the image: before that,
	// nothing they can see says the image is in use.
	unlockUse, err := store.LockUse()
	if err != nil {
		return nil, nil, err
	}
	defer unlockUse()
	img, err := store.Resolve(imageRef)
	if err != nil {
		return nil, nil, err
	}
	e.trace.Stage("image %s resolved to %s", imageRef, img.ID)
	if err := e.resolveNetworkOptions(&o, img.Config.Config.ExposedPorts); err != nil {
		return nil, nil, err
	}
	id := newID()
	dir := e.dir(id)
	in := &specInput{id: id, dir: dir, image: img.Config.Config, lowers: store.LowerDirs(img)}
	// The spec is built before anything exists, so a bad flag or user
	// leaves nothing behind.
	spec, err := buildSpec(in, &o)
	if err != nil {
		return nil, nil, err
	}
	specJSON, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, nil, fmt.Errorf("marshal spec: %w", err)
	}
	auto := o.Name == ""
	if auto {
		o.Name = autoName(id, 0)
	}
	rec := &Record{ID: id, Name: o.Name, Image: imageRef, ImageID: img.ID, Created: time.Now().UTC(), Lowers: in.lowers, Options: o, Args: spec.Process.Args,
		User: o.User, StopSignal: o.StopSignal}
	if rec.User == "" {
		rec.User = img.Config.Config.User
	}
	if rec.StopSignal == "" {
		rec.StopSignal = img.Config.Config.StopSignal
	}
	if err := os.Mkdir(dir, 0o700); err != nil { // opened for a user namespace by createStorage
		return nil, nil, fmt.Errorf("create container dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			e.releaseName(rec.Name, id)
			os.RemoveAll(dir)
		}
	}()
	if err := writeRecord(dir, rec); err != nil {
		return nil, nil, err
	}
	unlockUse()
	if err := e.name(rec, auto); err != nil {
		return nil, nil, err
	}
	if err := e.writeBundle(dir, rec, specJSON, spec.Hostname); err != nil {
		return nil, nil, fmt.Errorf("create container %s: %w", ShortID(id), err)
	}
	if err := e.createStorage(dir, rec); err != nil {
		return nil, nil, fmt.Errorf("create container %s: %w", ShortID(id), err)
	}
	e.trace.Stage("container %s created (bundle written)", ShortID(id))
	ok = true
	return rec, spec, nil
}

// name claims the record's name. An automatic one that is taken is
// replaced by the next candidate, and the record rewritten.
func (e *Engine) name(rec *Record, auto bool) error {
	for attempt := 0; ; attempt++ {
		err := e.claimName(rec.Name, rec.ID)
		if err == nil || !auto || attempt >= 3 {
			return err
		}
		rec.Name = autoName(rec.ID, attempt+1)
		if err := writeRecord(e.dir(rec.ID), rec); err != nil {
			return err
		}
	}
}

func (e *Engine) writeBundle(dir string, rec *Record, specJSON []byte, hostname string) error {
	for _, d := range []string{"rootfs", "upper", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), specJSON, 0o644); err != nil {
		return err
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"),
		"resolv.conf": hostResolvConf(rec.Options.Network),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// hostResolvConf is the host's resolv.conf, without loopback resolvers
// when the container has its own network namespace (they would point at
// the container itself).
func hostResolvConf(network string) []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	if network == "host" {
		return data
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// IsImageNotFound says whether err is the store's "unable to find image".
func IsImageNotFound(err error) bool { return errors.Is(err, image.ErrNotFound) }
