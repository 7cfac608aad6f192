package engine

import (
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pcr/image"
	"pcr/image/dockerfile"
	"pcr/image/layer"
	"pcr/runtime"
)

// CommitOptions are pcr commit's flags.
type CommitOptions struct {
	Message string
	Author  string
	// Changes are Dockerfile instructions applied to the new image's
	// config (-c 'CMD ["x"]'): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
	// VOLUME, WORKDIR, STOPSIGNAL.
	Changes []string
	// Name is the optional NAME[:TAG] of the new image.
	Name string
	// NoPause leaves a running container running during the diff
	// (--pause=false), at the risk of a layer caught mid-write.
	NoPause bool
}

// Commit makes an image of a container: its image plus one layer holding
// what the container changed (its overlay upper dir, streamed straight
// into the store), with the container's run config (command, environment,
// working dir, user) as the new image's config, as docker commit does.
func (e *Engine) Commit(ref string, o CommitOptions) (*image.Image, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	dir := e.dir(id)
	// The lock keeps a start (which rewrites the record and remounts) and
	// the cleanup of a run out while the upper dir is read.
	unlock, err := lockContainer(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		return nil, fmt.Errorf("commit container %s: %w", ShortID(id), err)
	}
	store, err := e.Images()
	if err != nil {
		return nil, err
	}
	parent, err := store.Resolve(string(rec.ImageID))
	if err != nil {
		return nil, fmt.Errorf("commit container %s: its image %s: %w", ShortID(id), rec.ImageID, err)
	}
	cfg := containerConfig(parent.Config.Config, rec)
	if err := applyChanges(&cfg, o.Changes); err != nil {
		return nil, fmt.Errorf("commit container %s: %w", ShortID(id), err)
	}
	if o.Name != "" {
		if _, err := image.NormalizeName(o.Name); err != nil {
			return nil, err
		}
	}
	if !o.NoPause {
		if st, err := e.rt.Load(id); err == nil && st.Status == runtime.StatusRunning {
			if err := e.rt.Pause(id); err != nil {
				return nil, fmt.Errorf("commit container %s: %w", ShortID(id), err)
			}
			defer func() {
				if err := e.rt.Resume(id); err != nil {
					e.warnf("container %s stays paused: %v", ShortID(id), err)
				}
			}()
		}
	}
	release, err := e.holdDisk(rec)
	if err != nil {
		return nil, fmt.Errorf("commit container %s: %w", ShortID(id), err)
	}
	defer release()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(layer.Diff(pw, e.upperDir(rec))) }()
	img, err := store.CreateImage(image.NewImage{
		Parent: parent, Layer: pr, Config: cfg, Author: o.Author, Comment: o.Message, Name: o.Name,
		History: ocispec.History{CreatedBy: strings.Join(rec.Args, " ")},
	})
	// Stops the diff when the store gave up before reading all of it.
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return nil, fmt.Errorf("commit container %s: %w", ShortID(id), err)
	}
	e.trace.Stage("container %s committed as %s", ShortID(id), img.ID)
	return img, nil
}

// containerConfig is the image config with the container's own run
// settings on top, the way the run merged them.
func containerConfig(base ocispec.ImageConfig, rec *Record) ocispec.ImageConfig {
	o := rec.Options
	cfg := base
	cfg.Env = mergeEnv(slices.Clone(base.Env), nil)
	if !hasKey(cfg.Env, "PATH") {
		cfg.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.Env...)
	}
	cfg.Env = mergeEnv(cfg.Env, o.Env)
	if o.EntrypointSet {
		cfg.Entrypoint, cfg.Cmd = slices.Clone(o.Entrypoint), nil
	}
	if len(o.Cmd) > 0 {
		cfg.Cmd = slices.Clone(o.Cmd)
	}
	if o.WorkingDir != "" {
		cfg.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		cfg.User = o.User
	}
	cfg.Labels = maps.Clone(base.Labels)
	cfg.ExposedPorts = maps.Clone(base.ExposedPorts)
	cfg.Volumes = maps.Clone(base.Volumes)
	return cfg
}

// applyChanges applies commit -c instructions to cfg.
func applyChanges(cfg *ocispec.ImageConfig, changes []string) error {
	lex := dockerfile.Lexer{}
	lookup := func(name string) (string, bool) {
		for i := len(cfg.Env) - 1; i >= 0; i-- {
			if k, v, _ := strings.Cut(cfg.Env[i], "="); k == name {
				return v, true
			}
		}
		return "", false
	}
	for _, ch := range changes {
		df, err := dockerfile.Parse(strings.NewReader(ch))
		if err != nil {
			return fmt.Errorf("change %q: %w", ch, err)
		}
		for _, in := range df.Instructions {
			if err := applyChange(cfg, in, lex, lookup); err != nil {
				return fmt.Errorf("change %q: %w", ch, err)
			}
		}
	}
	return nil
}

func applyChange(cfg *ocispec.ImageConfig, in dockerfile.Instruction, lex dockerfile.Lexer, lookup dockerfile.Lookup) error {
	words := func() ([]string, error) {
		out := make([]string, 0, len(in.Args))
		for _, a := range in.Args {
			w, err := lex.Word(a, lookup)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		return out, nil
	}
	switch in.Cmd {
	case "CMD", "ENTRYPOINT":
		argv := slices.Clone(in.Args)
		if !in.JSON && len(argv) > 0 {
			argv = []string{"/bin/sh", "-c", argv[0]}
		}
		if in.Cmd == "CMD" {
			cfg.Cmd = argv
		} else {
			cfg.Entrypoint = argv
		}
		return nil
	case "ENV", "LABEL":
		for _, a := range in.Args {
			k, v, _ := strings.Cut(a, "=")
			k, err := lex.Word(k, lookup)
			if err != nil {
				return err
			}
			if v, err = lex.Word(v, lookup); err != nil {
				return err
			}
			if k == "" {
				return fmt.Errorf("%s: empty name", in.Cmd)
			}
			if in.Cmd == "ENV" {
				cfg.Env = mergeEnv(cfg.Env, []string{k + "=" + v})
			} else {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[k] = v
			}
		}
		return nil
	case "EXPOSE", "VOLUME":
		ws, err := words()
		if err != nil {
			return err
		}
		for _, w := range ws {
			if in.Cmd == "VOLUME" {
				if !path.IsAbs(w) {
					return fmt.Errorf("VOLUME %q: the path must be absolute", w)
				}
				if cfg.Volumes == nil {
					cfg.Volumes = map[string]struct{}{}
				}
				cfg.Volumes[path.Clean(w)] = struct{}{}
				continue
			}
			if !strings.Contains(w, "/") {
				w += "/tcp"
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			cfg.ExposedPorts[w] = struct{}{}
		}
		return nil
	case "USER", "WORKDIR", "STOPSIGNAL":
		ws, err := words()
		if err != nil {
			return err
		}
		v := strings.Join(ws, " ")
		switch in.Cmd {
		case "USER":
			cfg.User = v
		case "WORKDIR":
			if !path.IsAbs(v) {
				v = path.Join("/", cfg.WorkingDir, v)
			}
			cfg.WorkingDir = v
		default:
			cfg.StopSignal = v
		}
		return nil
	}
	return fmt.Errorf("%s cannot be changed by commit (want CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL)", in.Cmd)
}
