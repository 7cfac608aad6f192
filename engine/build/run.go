package build

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/inroot"
	"pcr/image/dockerfile"
	"pcr/image/layer"
	"pcr/runtime"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// run is RUN: the command runs in a pcr container on the step's overlay,
// and the overlay's upper directory becomes the new layer.
func (b *builder) run(in dockerfile.Instruction) error {
	argv := in.Args
	createdBy := ""
	if in.JSON {
		createdBy = strings.Join(argv, " ")
	} else {
		argv = append(append([]string(nil), b.shell...), in.Args[0])
		createdBy = strings.Join(argv, " ")
	}
	argEnv := b.argEnv()
	for _, kv := range argEnv {
		k, _, _ := strings.Cut(kv, "=")
		b.usedArgs[k] = true
	}
	if len(argEnv) > 0 {
		// Docker's form: the build args a RUN saw are part of its history.
		createdBy = fmt.Sprintf("|%d %s %s", len(argEnv), strings.Join(argEnv, " "), createdBy)
	}
	argvJSON, _ := json.Marshal(argv)
	key := cacheKey(b.imageID(), "RUN", string(argvJSON), strings.Join(argEnv, "\x00"))
	if b.useCache(key) {
		return nil
	}

	w, err := b.newWorkspace()
	if err != nil {
		return err
	}
	defer w.remove()
	fmt.Fprintf(b.out, " ---> Running in %s\n", w.hex)
	if err := b.runContainer(w, argv, argEnv); err != nil {
		return err
	}
	return b.commitLayer(w, key, ocispec.History{CreatedBy: createdBy})
}

// runContainer runs argv in a container on w's rootfs and waits for it.
func (b *builder) runContainer(w *workspace, argv, argEnv []string) error {
	user, err := inroot.ResolveUser(w.rootfs, b.cfg.User)
	if err != nil {
		return err
	}
	cwd := b.cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	// Docker creates a missing working directory; it belongs to the layer.
	if _, err := inroot.MkdirAll(w.rootfs, cwd, 0, 0); err != nil {
		return fmt.Errorf("working directory %s: %w", cwd, err)
	}
	spec := b.runSpec(w, argv, argEnv, user, cwd)
	// The runtime creates missing mount targets (/proc, /etc/resolv.conf…)
	// in the rootfs, that is in upper; what it made is taken out again after.
	var stubs []string
	parents := map[string]os.FileInfo{}
	for _, m := range spec.Mounts {
		if !inroot.Exists(w.rootfs, m.Destination) {
			stubs = append(stubs, m.Destination)
			dir := path.Dir(path.Clean("/" + m.Destination))
			if hp, err := inroot.Resolve(w.rootfs, dir); err == nil && dir != "/" {
				if fi, err := os.Lstat(hp); err == nil {
					parents[dir] = fi
				}
			}
		}
	}
	bundle := filepath.Join(w.dir, "bundle")
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}

	stdout, stderr := b.o.Stdout, b.o.Stderr
	var captured *os.File
	if b.o.Quiet {
		// Quiet builds keep the output to show it only if the step fails.
		if captured, err = os.Create(filepath.Join(w.dir, "output")); err != nil {
			return err
		}
		defer captured.Close()
		stdout, stderr = captured, captured
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	status, err := b.rt.Run(runtime.RunOpts{CreateOpts: runtime.CreateOpts{
		ID: w.containerID(), Bundle: bundle, Stdin: devnull, Stdout: stdout, Stderr: stderr,
	}})
	if err != nil {
		return fmt.Errorf("run container: %w", err)
	}
	if status != 0 {
		if captured != nil {
			captured.Seek(0, io.SeekStart)
			io.Copy(b.o.Stderr, captured)
		}
		return fmt.Errorf("exit status %d", status)
	}
	if err := w.unmount(); err != nil {
		return err
	}
	removeStubs(w.upper, stubs, parents)
	return nil
}

// runSpec is the RUN container's OCI config: Docker's defaults for a build
// container on the host's network (there is no bridge yet), with the host's
// resolv.conf so package managers can reach their mirrors.
func (b *builder) runSpec(w *workspace, argv, argEnv []string, u inroot.User, cwd string) *specs.Spec {
	s := runtime.DefaultSpec(false)
	s.Root = &specs.Root{Path: w.rootfs}
	s.Hostname = w.hex
	env := append(append([]string(nil), b.cfg.Env...), argEnv...)
	if !envHas(env, "PATH") {
		env = append(env, defaultPath)
	}
	s.Process.Terminal = false
	s.Process.Args = argv
	s.Process.Env = env
	s.Process.Cwd = cwd
	s.Process.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}
	s.Process.NoNewPrivileges = false
	s.Process.Rlimits = nil // inherit: raising hard limits needs CAP_SYS_RESOURCE
	caps := inroot.DockerCapabilities()
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
	if resolv, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: "/etc/resolv.conf", Type: "bind", Source: resolv,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
	}
	return s
}

// removeStubs takes out of upper the empty mount targets the runtime made,
// deepest first so /dev/pts goes before /dev, and then the directories
// overlay copied up only to hold them (empty, owner and mode unchanged).
func removeStubs(upper string, stubs []string, parents map[string]os.FileInfo) {
	sort.Slice(stubs, func(i, j int) bool {
		return strings.Count(path.Clean(stubs[i]), "/") > strings.Count(path.Clean(stubs[j]), "/")
	})
	for _, s := range stubs {
		p := filepath.Join(upper, path.Clean("/"+s))
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir():
			os.Remove(p) // fails, as it should, unless empty
		case fi.Mode().IsRegular() && fi.Size() == 0:
			os.Remove(p)
		}
	}
	for dir, before := range parents {
		p := filepath.Join(upper, dir)
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() || fi.Mode() != before.Mode() {
			continue
		}
		st, ok1 := fi.Sys().(*syscall.Stat_t)
		bst, ok2 := before.Sys().(*syscall.Stat_t)
		if !ok1 || !ok2 || st.Uid != bst.Uid || st.Gid != bst.Gid {
			continue
		}
		if entries, err := os.ReadDir(p); err == nil && len(entries) == 0 && !layer.IsOpaque(p) {
			os.Remove(p)
		}
	}
}
