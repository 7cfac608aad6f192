package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pcr/engine/internal/inroot"
	"pcr/image"
	"pcr/image/dockerfile"
)

// step runs one instruction.
func (b *builder) step(in dockerfile.Instruction) error {
	switch in.Cmd {
	case "FROM":
		return b.from(in)
	case "ARG":
		return b.arg(in)
	case "RUN":
		return b.run(in)
	case "COPY", "ADD":
		return b.copy(in)
	case "WORKDIR":
		return b.workdir(in)
	case "SHELL":
		if len(in.Args) == 0 {
			return errors.New("SHELL needs at least one element")
		}
		b.shell = append([]string(nil), in.Args...)
		b.done()
		return nil
	}
	desc, err := b.applyMeta(in)
	if err != nil {
		return err
	}
	return b.commitConfig(desc)
}

func (b *builder) from(in dockerfile.Instruction) error {
	ref, err := b.word(in.Args[0])
	if err != nil {
		return err
	}
	b.fromSet = true
	if ref == "scratch" {
		b.done()
		return nil
	}
	img, err := b.o.Store.Resolve(ref)
	if errors.Is(err, image.ErrNotFound) {
		return fmt.Errorf("unable to find image '%s' in the store (pull or load it first)", ref)
	}
	if err != nil {
		return err
	}
	b.setImage(img)
	b.done()
	return nil
}

func (b *builder) arg(in dockerfile.Instruction) error {
	for _, w := range in.Args {
		name, def, hasDef := strings.Cut(w, "=")
		var value *string
		if hasDef {
			v, err := b.word(def)
			if err != nil {
				return err
			}
			value = &v
		}
		if v, ok := b.o.BuildArgs[name]; ok {
			value = &v
			b.usedArgs[name] = true
		}
		if !b.fromSet {
			b.globalArg[name] = value
			continue
		}
		if value == nil {
			// Re-declaring a global ARG inside the stage brings its value in.
			if g := b.globalArg[name]; g != nil {
				value = g
			}
		}
		if !b.declared[name] {
			b.declared[name] = true
			b.argOrder = append(b.argOrder, name)
		}
		if value != nil {
			b.args[name] = *value
		}
	}
	if b.fromSet {
		b.done()
	}
	return nil
}

// applyMeta changes b.cfg (and b.author) for a config-only instruction and
// returns the history line for it.
func (b *builder) applyMeta(in dockerfile.Instruction) (string, error) {
	switch in.Cmd {
	case "ENV":
		// All pairs expand with the environment before this ENV, as Docker does.
		type kv struct{ k, v string }
		var pairs []kv
		for _, w := range in.Args {
			k, v, _ := strings.Cut(w, "=")
			k, err := b.word(k)
			if err != nil {
				return "", err
			}
			v, err = b.word(v)
			if err != nil {
				return "", err
			}
			if k == "" {
				return "", errors.New("ENV: empty variable name")
			}
			pairs = append(pairs, kv{k, v})
		}
		var desc []string
		for _, p := range pairs {
			b.cfg.Env = setEnv(b.cfg.Env, p.k, p.v)
			desc = append(desc, p.k+"="+p.v)
		}
		return "ENV " + strings.Join(desc, " "), nil
	case "LABEL":
		if b.cfg.Labels == nil {
			b.cfg.Labels = map[string]string{}
		}
		var desc []string
		for _, w := range in.Args {
			k, v, _ := strings.Cut(w, "=")
			k, err := b.word(k)
			if err != nil {
				return "", err
			}
			if v, err = b.word(v); err != nil {
				return "", err
			}
			b.cfg.Labels[k] = v
			desc = append(desc, strconv.Quote(k)+"="+strconv.Quote(v))
		}
		return "LABEL " + strings.Join(desc, " "), nil
	case "USER":
		u, err := b.word(in.Args[0])
		if err != nil {
			return "", err
		}
		if u == "" || strings.Count(u, ":") > 1 {
			return "", fmt.Errorf("USER %q: want user[:group]", u)
		}
		b.cfg.User = u
		return "USER " + u, nil
	case "CMD", "ENTRYPOINT":
		argv := in.Args
		if !in.JSON && len(argv) > 0 {
			argv = append(append([]string(nil), b.shell...), argv[0])
		}
		if in.Cmd == "CMD" {
			b.cfg.Cmd, b.cmdSet = argv, true
		} else {
			b.cfg.Entrypoint = argv
			if !b.cmdSet {
				// An inherited CMD was meant for the old entrypoint.
				b.cfg.Cmd = nil
			}
		}
		j, _ := json.Marshal(argv)
		return in.Cmd + " " + string(j), nil
	case "EXPOSE":
		if b.cfg.ExposedPorts == nil {
			b.cfg.ExposedPorts = map[string]struct{}{}
		}
		var desc []string
		for _, w := range in.Args {
			p, err := b.word(w)
			if err != nil {
				return "", err
			}
			ports, err := exposedPorts(p)
			if err != nil {
				return "", err
			}
			for _, x := range ports {
				b.cfg.ExposedPorts[x] = struct{}{}
				desc = append(desc, x)
			}
		}
		return "EXPOSE " + strings.Join(desc, " "), nil
	case "VOLUME":
		if b.cfg.Volumes == nil {
			b.cfg.Volumes = map[string]struct{}{}
		}
		var desc []string
		for _, w := range in.Args {
			v, err := b.word(w)
			if err != nil {
				return "", err
			}
			if !path.IsAbs(v) {
				return "", fmt.Errorf("VOLUME %q: the path must be absolute", v)
			}
			b.cfg.Volumes[path.Clean(v)] = struct{}{}
			desc = append(desc, path.Clean(v))
		}
		return "VOLUME " + strings.Join(desc, " "), nil
	case "STOPSIGNAL":
		s, err := b.word(in.Args[0])
		if err != nil {
			return "", err
		}
		b.cfg.StopSignal = s
		return "STOPSIGNAL " + s, nil
	case "MAINTAINER":
		a, err := b.word(in.Args[0])
		if err != nil {
			return "", err
		}
		b.author = a
		return "MAINTAINER " + a, nil
	}
	return "", fmt.Errorf("%s is not supported", in.Cmd)
}

// commitConfig makes the config-only image for a metadata instruction,
// through the cache.
func (b *builder) commitConfig(desc string) error {
	cfgJSON, _ := json.Marshal(b.cfg)
	key := cacheKey(b.imageID(), "meta", desc, string(cfgJSON), b.author)
	if b.useCache(key) {
		return nil
	}
	return b.commitConfigKey(key, desc)
}

// commitConfigKey makes a config-only image from b.cfg, cached under key.
func (b *builder) commitConfigKey(key, desc string) error {
	img, err := b.o.Store.CreateImage(image.NewImage{
		Parent:  b.img,
		Config:  b.cfg,
		History: ocispec.History{CreatedBy: "/bin/sh -c #(nop)  " + desc},
		Author:  b.author,
	})
	if err != nil {
		return err
	}
	return b.stepDone(key, img)
}

// useCache moves to the cached result of key when there is one whose image
// still exists, and says so.
func (b *builder) useCache(key string) bool {
	if b.o.NoCache {
		return false
	}
	id, ok := b.cache.get(key)
	if !ok {
		return false
	}
	img, err := b.o.Store.Resolve(id)
	if err != nil || img.ID.String() != id {
		return false
	}
	b.setImage(img)
	fmt.Fprintln(b.out, " ---> Using cache")
	b.done()
	return true
}

// stepDone records a freshly built step in the cache and moves to it.
func (b *builder) stepDone(key string, img *image.Image) error {
	if err := b.cache.put(key, img.ID.String()); err != nil {
		return err
	}
	b.setImage(img)
	b.done()
	return nil
}

// setImage moves to img, whose config is b.cfg's result (or a cached equal).
func (b *builder) setImage(img *image.Image) {
	b.img = img
	b.cfg = img.Config.Config
	b.cfg.Env = append([]string(nil), b.cfg.Env...)
	b.cfg.ExposedPorts = maps.Clone(b.cfg.ExposedPorts)
	b.cfg.Volumes = maps.Clone(b.cfg.Volumes)
	b.cfg.Labels = maps.Clone(b.cfg.Labels)
}

// exposedPorts normalizes "80", "80/tcp", "8000-8002/udp" to port/proto entries.
func exposedPorts(s string) ([]string, error) {
	p, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("EXPOSE %q: protocol must be tcp, udp or sctp", s)
	}
	lo, hi, isRange := strings.Cut(p, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || start == 0 {
		return nil, fmt.Errorf("EXPOSE %q: invalid port", s)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("EXPOSE %q: invalid port range", s)
		}
	}
	var out []string
	for x := start; x <= end; x++ {
		out = append(out, fmt.Sprintf("%d/%s", x, proto))
	}
	return out, nil
}

// workdir is WORKDIR: the config changes, and a directory missing from the
// image is created in a layer of its own, as Docker does.
func (b *builder) workdir(in dockerfile.Instruction) error {
	dir, err := b.word(in.Args[0])
	if err != nil {
		return err
	}
	if !path.IsAbs(dir) {
		base := b.cfg.WorkingDir
		if base == "" {
			base = "/"
		}
		dir = path.Join(base, dir)
	}
	b.cfg.WorkingDir = path.Clean(dir)
	desc := "WORKDIR " + b.cfg.WorkingDir
	key := cacheKey(b.imageID(), desc)
	if b.useCache(key) {
		return nil
	}
	w, err := b.newWorkspace()
	if err != nil {
		return err
	}
	defer w.remove()
	if _, err := inroot.MkdirAll(w.rootfs, b.cfg.WorkingDir, 0, 0); err != nil {
		return err
	}
	if err := w.unmount(); err != nil {
		return err
	}
	empty, err := w.upperEmpty()
	if err != nil {
		return err
	}
	if empty {
		return b.commitConfigKey(key, desc)
	}
	return b.commitLayer(w, key, ocispec.History{CreatedBy: "/bin/sh -c #(nop)  " + desc})
}
