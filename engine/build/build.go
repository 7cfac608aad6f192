// Package build runs Dockerfiles against the image store, as Docker's
// classic builder does: each instruction makes an image from the previous
// one, RUN in a pcr container on an overlay of the image's layers whose
// upper directory becomes the new layer, COPY and ADD by writing into such
// an overlay directly, metadata instructions as config-only images. A cache
// keyed by parent image and instruction skips steps already built.
//
// On disk, under the engine's --root:
//
//	build/.lock         flock: shared by every running build, exclusive to sweep leftovers
//	build/tmp-<hex>/    one step's overlay (upper, work, rootfs) and bundle; gone after the step
//	build/cache/<key>   the image ID a step produced (see cache.go)
//
// RUN containers live under <--state>/build as build-<hex>.
//
// A build holds the image store's use lock (image.Store.LockUse) for its
// whole run, so rmi and prune cannot remove what it stands on.
package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"pcr/image"
	"pcr/image/dockerfile"
	"pcr/runtime"
)

// Options is one `pcr build`.
type Options struct {
	Store *image.Store
	// WorkRoot holds the step directories and the cache: <root>/build.
	WorkRoot string
	// StateRoot is the runtime state root for RUN containers: <state>/build.
	StateRoot string
	// ContextDir is the build context; Dockerfile defaults to ContextDir/Dockerfile.
	ContextDir string
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]string
	NoCache    bool
	// Quiet prints nothing but the final image ID (and a failing RUN's output).
	Quiet bool
	// Stdout and Stderr receive the step lines and the RUN containers' output.
	Stdout, Stderr *os.File
}

// Build runs the Dockerfile and returns the final image, tagged with o.Tags.
func Build(o Options) (*image.Image, error) {
	if o.Stdout == nil || o.Stderr == nil {
		return nil, errors.New("build: no output streams")
	}
	tags := make([]string, 0, len(o.Tags))
	for _, t := range o.Tags {
		n, err := image.NormalizeName(t)
		if err != nil {
			return nil, fmt.Errorf("build: tag %q: %w", t, err)
		}
		tags = append(tags, n)
	}
	ctx, err := openContext(o.ContextDir)
	if err != nil {
		return nil, err
	}
	dfPath := o.Dockerfile
	var f *os.File
	if dfPath == "" {
		// The context's Dockerfile resolves inside it like any source: a
		// link to a host file must not show its lines in parse errors.
		dfPath = filepath.Join(ctx.dir, "Dockerfile")
		f, err = ctx.open("Dockerfile")
	} else {
		f, err = os.Open(dfPath)
	}
	if err != nil {
		return nil, fmt.Errorf("build: open dockerfile: %w", err)
	}
	df, err := dockerfile.Parse(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("build: parse %s: %w", dfPath, err)
	}
	if err := checkStructure(df); err != nil {
		return nil, fmt.Errorf("build: %s: %w", dfPath, err)
	}
	if err := os.MkdirAll(filepath.Join(o.WorkRoot, "cache"), 0o700); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	lock, err := lockBuilds(o.WorkRoot)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	rt, err := runtime.New(o.StateRoot, nil, o.Stderr)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := sweepLeftovers(lock, o.WorkRoot, rt); err != nil {
		return nil, err
	}
	// The intermediate images are dangling and RUN steps mount their
	// layers: rmi and prune must wait until the build is over.
	unlockUse, err := o.Store.LockUse()
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer unlockUse()

	out := io.Writer(o.Stdout)
	if o.Quiet {
		out = io.Discard
	}
	b := &builder{
		o: o, ctx: ctx, rt: rt, out: out,
		lex:       dockerfile.Lexer{Escape: df.Escape},
		cache:     cache{dir: filepath.Join(o.WorkRoot, "cache")},
		args:      map[string]string{},
		declared:  map[string]bool{},
		usedArgs:  map[string]bool{},
		globalArg: map[string]*string{},
		shell:     []string{"/bin/sh", "-c"},
	}
	total := len(df.Instructions)
	for i, in := range df.Instructions {
		fmt.Fprintf(out, "Step %d/%d : %s\n", i+1, total, in.Original)
		if err := b.step(in); err != nil {
			return nil, fmt.Errorf("build: step %d/%d (line %d) %s: %w", i+1, total, in.Line, shorten(in.Original), err)
		}
	}
	if b.img == nil {
		return nil, errors.New("build: no image was produced: the Dockerfile only has FROM scratch and ARG")
	}
	if unused := b.unusedBuildArgs(); len(unused) > 0 {
		fmt.Fprintf(o.Stderr, "pcr: warning: build args not consumed by any ARG: %s\n", strings.Join(unused, ", "))
	}
	short := b.img.ID.Encoded()[:12]
	fmt.Fprintf(out, "Successfully built %s\n", short)
	for _, t := range tags {
		if err := o.Store.Tag(b.img.ID.String(), t); err != nil {
			return nil, fmt.Errorf("build: tag %s: %w", t, err)
		}
		fmt.Fprintf(out, "Successfully tagged %s\n", t)
	}
	if o.Quiet {
		fmt.Fprintln(o.Stdout, b.img.ID)
	}
	return o.Store.Resolve(b.img.ID.String())
}

// builder is one build's running state: the image built so far and what
// the instructions so far declared.
type builder struct {
	o     Options
	ctx   *buildContext
	rt    *runtime.Runtime
	out   io.Writer
	lex   dockerfile.Lexer
	cache cache

	img     *image.Image // nil until FROM, and after FROM scratch until a step makes one
	fromSet bool
	cfg     ocispec.ImageConfig
	author  string
	shell   []string
	// cmdSet: CMD was given in this Dockerfile, so a later ENTRYPOINT keeps it.
	cmdSet bool

	// globalArg: ARGs before FROM (usable in FROM, and after it when
	// re-declared); args: the stage's ARGs that have a value.
	globalArg map[string]*string
	args      map[string]string
	argOrder  []string
	declared  map[string]bool
	usedArgs  map[string]bool
}

// checkStructure refuses what this builder does not do, before any step runs.
func checkStructure(df *dockerfile.Dockerfile) error {
	from := 0
	for _, in := range df.Instructions {
		switch in.Cmd {
		case "FROM":
			from++
			if from > 1 {
				return &dockerfile.Error{Line: in.Line, Msg: "a second FROM: multi-stage builds are not supported"}
			}
			if _, ok := in.Flags["platform"]; ok {
				return &dockerfile.Error{Line: in.Line, Msg: "FROM --platform is not supported"}
			}
		case "ARG":
		case "HEALTHCHECK", "ONBUILD":
			return &dockerfile.Error{Line: in.Line, Msg: in.Cmd + " is not supported"}
		default:
			if from == 0 {
				return &dockerfile.Error{Line: in.Line, Msg: in.Cmd + " before FROM: a Dockerfile starts with FROM (only ARG may come before it)"}
			}
		}
	}
	if from == 0 {
		return errors.New("no FROM instruction")
	}
	return nil
}

// lookup is the environment instructions expand with: ENV over ARG.
func (b *builder) lookup(name string) (string, bool) {
	if !b.fromSet {
		if v, ok := b.globalArg[name]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	for i := len(b.cfg.Env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(b.cfg.Env[i], "="); k == name {
			return v, true
		}
	}
	v, ok := b.args[name]
	return v, ok
}

func (b *builder) word(s string) (string, error) { return b.lex.Word(s, b.lookup) }

// argEnv is the stage's ARG values that RUN sees as environment, sorted;
// ENV of the same name wins, so those are left out.
func (b *builder) argEnv() []string {
	var out []string
	for _, k := range b.argOrder {
		v, ok := b.args[k]
		if !ok || envHas(b.cfg.Env, k) {
			continue
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (b *builder) unusedBuildArgs() []string {
	var out []string
	for k := range b.o.BuildArgs {
		if !b.usedArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (b *builder) imageID() string {
	if b.img == nil {
		return "scratch"
	}
	return b.img.ID.String()
}

// done reports a step's resulting image.
func (b *builder) done() {
	if b.img == nil {
		fmt.Fprintln(b.out, " ---> scratch")
		return
	}
	fmt.Fprintf(b.out, " ---> %s\n", b.img.ID.Encoded()[:12])
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func envHas(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	replaced := false
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			if !replaced {
				out = append(out, key+"="+value)
				replaced = true
			}
			continue
		}
		out = append(out, e)
	}
	if !replaced {
		out = append(out, key+"="+value)
	}
	return out
}

// lockBuilds takes the builds' shared lock; sweepLeftovers upgrades it
// briefly when no other build runs.
func lockBuilds(workRoot string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(workRoot, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build: lock: %w", err)
	}
	if err := flock(f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("build: lock %s: %w", f.Name(), err)
	}
	return f, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}
