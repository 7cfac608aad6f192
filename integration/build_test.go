package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bldEnv is a private engine root and state for `pcr build` tests; its
// cleanup fails the test if a build left a mount, a workspace, a runtime
// container or a cgroup behind.
type bldEnv struct {
	t                 *testing.T
	dir, root, state  string
	parentsBefore     map[string]bool
	buildCgroupBefore map[string]bool
}

func newBldEnv(t *testing.T) *bldEnv {
	t.Helper()
	requirePrereqs(t)
	dir := t.TempDir()
	e := &bldEnv{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		parentsBefore: pcrParentCgroups(), buildCgroupBefore: bldCgroups()}
	t.Cleanup(e.checkNoLeaks)
	return e
}

// bldCgroups lists cgroups named like the builder's RUN containers.
func bldCgroups() map[string]bool {
	found := map[string]bool{}
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "build-") {
			found[path] = true
			return filepath.SkipDir
		}
		if strings.Count(path, "/") > 9 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

func (e *bldEnv) checkNoLeaks() {
	t := e.t
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, e.dir) {
				t.Errorf("leaked mount: %s", l)
				// Take it off so TempDir's removal does not walk into image layers.
				if f := strings.Fields(l); len(f) > 4 {
					exec.Command("umount", "-l", f[4]).Run()
				}
			}
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(e.root, "build", "tmp-*")); len(tmps) > 0 {
		t.Errorf("leaked build workspaces: %v", tmps)
	}
	if entries, err := os.ReadDir(filepath.Join(e.state, "build")); err == nil {
		for _, en := range entries {
			t.Errorf("leaked runtime state: %s", filepath.Join(e.state, "build", en.Name()))
		}
	}
	for cg := range bldCgroups() {
		if !e.buildCgroupBefore[cg] {
			t.Errorf("leaked cgroup: %s", cg)
		}
	}
	for cg := range pcrParentCgroups() {
		if !e.parentsBefore[cg] {
			t.Errorf("leaked cgroup: %s (pcr's shared parent)", cg)
		}
	}
}

// pcr runs an engine command against the private root and state.
func (e *bldEnv) pcr(limit time.Duration, args ...string) result {
	return runPCR(e.t, limit, nil, []string{"--root", e.root, "--state", e.state}, args)
}

func (e *bldEnv) importBusybox() {
	e.t.Helper()
	e.pcr(60*time.Second, "import", filepath.Join(fixtures, "busybox.tar"), "busybox").ok(e.t)
}

// context writes files (name -> content; a name ending in "*" is made
// executable) into a fresh build context directory.
func (e *bldEnv) context(name string, files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	for n, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(n, "*") {
			n, mode = strings.TrimSuffix(n, "*"), 0o755
		}
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			e.t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	return dir
}

type bldImage struct {
	Id     string
	Config struct {
		User         string
		Env          []string
		Cmd          []string
		Entrypoint   []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
		Labels       map[string]string
	}
	RootFS struct {
		Layers []string
	}
	GraphDriver struct {
		Data map[string]string
	}
}

func (e *bldEnv) inspect(ref string) bldImage {
	e.t.Helper()
	r := e.pcr(30*time.Second, "image", "inspect", ref).ok(e.t)
	var imgs []bldImage
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil || len(imgs) != 1 {
		e.t.Fatalf("image inspect %s: %v: %s", ref, err, r.stdout)
	}
	return imgs[0]
}

// bldLayerEntry is one file of an image layer, read from a `pcr save` archive.
type bldLayerEntry struct {
	hdr     *tar.Header
	content string // regular files under 4 KiB
}

// bldLayers reads the layers (base first) of the single image in a saved
// archive (an OCI image layout), listing each layer's entries by path.
func bldLayers(t *testing.T, archive string) []map[string]bldLayerEntry {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", archive, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v: %s", archive, err, out)
	}
	readJSON := func(p string, v any) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("saved archive: %v", err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("saved archive: %s: %v", p, err)
		}
	}
	blob := func(d string) string { return filepath.Join(dir, "blobs", strings.Replace(d, ":", "/", 1)) }
	var index struct{ Manifests []struct{ Digest string } }
	readJSON(filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) == 0 {
		t.Fatalf("saved archive %s: index.json lists no manifest", archive)
	}
	var manifest struct{ Layers []struct{ Digest string } }
	readJSON(blob(index.Manifests[0].Digest), &manifest)
	var out []map[string]bldLayerEntry
	for _, l := range manifest.Layers {
		f, err := os.Open(blob(l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(f)
		var r io.Reader = br
		if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			gz, err := gzip.NewReader(br)
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			r = gz
		}
		entries := map[string]bldLayerEntry{}
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			e := bldLayerEntry{hdr: hdr}
			if hdr.Typeflag == tar.TypeReg && hdr.Size < 4096 {
				b, _ := io.ReadAll(tr)
				e.content = string(b)
			}
			entries[strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = e
		}
		f.Close()
		out = append(out, entries)
	}
	return out
}

func (e *bldEnv) savedLayers(ref string) []map[string]bldLayerEntry {
	e.t.Helper()
	archive := filepath.Join(e.dir, "saved.tar")
	e.pcr(60*time.Second, "save", "-o", archive, ref).ok(e.t)
	defer os.Remove(archive)
	return bldLayers(e.t, archive)
}

// whichLayers lists the indexes of the layers that hold path.
func whichLayers(layers []map[string]bldLayerEntry, path string) []int {
	var out []int
	for i, l := range layers {
		if _, ok := l[path]; ok {
			out = append(out, i)
		}
	}
	return out
}

var builtRe = regexp.MustCompile(`(?m)^Successfully built ([0-9a-f]{12})$`)

func builtID(t *testing.T, r result) string {
	t.Helper()
	m := builtRe.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no 'Successfully built' line in:\n%s", r.stdout)
	}
	return m[1]
}

// cachedSteps maps each step number to whether the build took it from the cache.
func cachedSteps(out string) map[int]bool {
	steps := map[int]bool{}
	cur := 0
	for _, l := range strings.Split(out, "\n") {
		var n, total int
		if _, err := fmt.Sscanf(l, "Step %d/%d :", &n, &total); err == nil {
			cur = n
			steps[cur] = false
			continue
		}
		if strings.TrimSpace(l) == "---> Using cache" {
			steps[cur] = true
		}
	}
	return steps
}

func bldTarGz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o640, Size: int64(len(content)), Uid: 7, Gid: 8, Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	return gz.String()
}

func TestBuildInstructionsMakeConfigAndLayers(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	ctx := e.context("ctx", map[string]string{
		"Dockerfile": `# a comment
FROM busybox
ARG WHO=nobody
RUN echo "hello $WHO" > /greeting \
    && mkdir -p /var/made
COPY app.sh /app/
COPY data /app/data/
ADD files.tar.gz /opt/
ENV APP=/app GREETING="two words"
WORKDIR $APP
USER pcr
RUN id -u > /tmp/uid && pwd > /tmp/pwd && echo "$GREETING" > /tmp/env
ENTRYPOINT ["sh"]
CMD ["/app/app.sh"]
EXPOSE 8080/udp
LABEL org.example.name="pcr test"
`,
		"app.sh*":         "#!/bin/sh\necho app\n",
		"data/a.txt":      "a\n",
		"data/deep/b.txt": "b\n",
		"files.tar.gz":    bldTarGz(t, map[string]string{"x/y.txt": "from tar\n"}),
		"ignored.txt":     "should not be copied",
		".dockerignore":   "ignored.txt\n",
	})
	r := e.pcr(120*time.Second, "build", "-t", "built:1", "--build-arg", "WHO=pcr", ctx).ok(t)
	if !strings.Contains(r.stdout, "Step 1/14 : FROM busybox") || !strings.Contains(r.stdout, "Successfully tagged built:1") {
		t.Errorf("build output lacks Docker's step and result lines:\n%s", r.stdout)
	}
	img := e.inspect("built:1")
	if short := builtID(t, r); !strings.HasPrefix(img.Id, "sha256:"+short) {
		t.Errorf("built %s, but built:1 is %s", short, img.Id)
	}
	c := img.Config
	if c.User != "pcr" || c.WorkingDir != "/app" {
		t.Errorf("user %q workdir %q, want pcr /app", c.User, c.WorkingDir)
	}
	env := strings.Join(c.Env, "\n")
	if !strings.Contains(env, "APP=/app") || !strings.Contains(env, "GREETING=two words") || strings.Contains(env, "WHO=") {
		t.Errorf("env %q: want APP and GREETING, and no build arg", c.Env)
	}
	if strings.Join(c.Entrypoint, " ") != "sh" || strings.Join(c.Cmd, " ") != "/app/app.sh" {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["8080/udp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/udp", c.ExposedPorts)
	}
	if c.Labels["org.example.name"] != "pcr test" {
		t.Errorf("labels %v", c.Labels)
	}

	layers := e.savedLayers("built:1")
	// busybox, RUN, COPY, COPY, ADD, RUN: WORKDIR /app already exists (COPY made it).
	if len(layers) != 6 || len(img.RootFS.Layers) != 6 {
		t.Fatalf("%d layers in the archive, %d in the config; want 6", len(layers), len(img.RootFS.Layers))
	}
	for path, want := range map[string]string{
		"greeting":            "hello pcr\n",
		"app/app.sh":          "#!/bin/sh\necho app\n",
		"app/data/a.txt":      "a\n",
		"app/data/deep/b.txt": "b\n",
		"opt/x/y.txt":         "from tar\n",
		"tmp/uid":             "1000\n",
		"tmp/pwd":             "/app\n",
		"tmp/env":             "two words\n",
	} {
		in := whichLayers(layers, path)
		if len(in) != 1 {
			t.Errorf("%s is in layers %v, want exactly one", path, in)
			continue
		}
		if got := layers[in[0]][path].content; got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if in := whichLayers(layers, "greeting"); len(in) == 1 && in[0] != 1 {
		t.Errorf("RUN's file is in layer %d, want 1 (on top of busybox)", in[0])
	}
	if h := layers[2]["app/app.sh"].hdr; h != nil && (h.Mode&0o777 != 0o755 || h.Uid != 0 || h.Gid != 0) {
		t.Errorf("COPY'd app.sh mode %o owner %d:%d, want 755 0:0", h.Mode, h.Uid, h.Gid)
	}
	if h := layers[4]["opt/x/y.txt"].hdr; h != nil && (h.Mode&0o777 != 0o640 || h.Uid != 7 || h.Gid != 8) {
		t.Errorf("ADD'd tar entry mode %o owner %d:%d, want the archive's 640 7:8", h.Mode, h.Uid, h.Gid)
	}
	if in := whichLayers(layers, "app/ignored.txt"); len(in) > 0 {
		t.Errorf(".dockerignore'd file was copied into layer %v", in)
	}
	// The RUN container's mount targets must not end up in its layer.
	for _, stub := range []string{"etc/resolv.conf", "etc"} {
		if in := whichLayers(layers[5:], stub); len(in) > 0 {
			t.Errorf("RUN layer holds %s, a mount target of the build container", stub)
		}
	}
}

func TestBuildCacheAndInvalidation(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	ctx := e.context("ctx", map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY src.txt /src.txt\nRUN cat /src.txt > /copy\nENV X=1\n",
		"src.txt":    "version 1\n",
	})
	first := e.pcr(60*time.Second, "build", "-t", "cached", ctx).ok(t)
	if strings.Contains(first.stdout, "Using cache") {
		t.Fatalf("first build used a cache:\n%s", first.stdout)
	}
	second := e.pcr(60*time.Second, "build", "-t", "cached", ctx).ok(t)
	for step, cached := range cachedSteps(second.stdout) {
		if step > 1 && !cached {
			t.Errorf("second build ran step %d instead of using the cache:\n%s", step, second.stdout)
		}
	}
	if a, b := builtID(t, first), builtID(t, second); a != b {
		t.Errorf("same context built %s then %s; want the same image", a, b)
	}

	if err := os.WriteFile(filepath.Join(ctx, "src.txt"), []byte("version 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := e.pcr(60*time.Second, "build", "-t", "cached", ctx).ok(t)
	want := map[int]bool{1: false, 2: true, 3: false, 4: false, 5: false}
	if got := cachedSteps(third.stdout); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after changing the COPY source, cached steps %v, want %v:\n%s", got, want, third.stdout)
	}
	if builtID(t, third) == builtID(t, first) {
		t.Error("changed COPY source gave the same image")
	}
	layers := e.savedLayers("cached")
	if in := whichLayers(layers, "copy"); len(in) != 1 || layers[in[0]]["copy"].content != "version 2\n" {
		t.Errorf("rebuilt RUN did not see the new source: layers %v", in)
	}
	// --no-cache runs every step again.
	fourth := e.pcr(60*time.Second, "build", "--no-cache", "-q", "-t", "cached", ctx).ok(t)
	if strings.Contains(fourth.stdout, "Step") || !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(fourth.stdout) {
		t.Errorf("-q printed %q, want only the image ID", fourth.stdout)
	}
}

func TestBuildFailuresLeaveNothing(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	before := e.inspect("busybox").Id
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"failing RUN", "FROM busybox\nRUN touch /x && exit 3\nCMD true\n", "step 2/3 (line 2) RUN touch /x && exit 3: exit status 3"},
		{"unknown instruction", "FROM busybox\nRUN true\nFROBNICATE x\n", `line 3: unknown instruction "FROBNICATE"`},
		{"missing base", "FROM no-such-image\n", "unable to find image 'no-such-image'"},
		{"outside context", "FROM busybox\nCOPY ../etc/passwd /x\n", "forbidden path outside the build context"},
		{"missing source", "FROM busybox\nCOPY nope.txt /x\n", "nope.txt: no such file or directory in the build context"},
		{"remote ADD", "FROM busybox\nADD https://127.0.0.1:1/x.tar /x\n", "remote URLs are not supported"},
		{"unknown user", "FROM busybox\nUSER ghost\nRUN true\n", "unable to find user ghost"},
		{"bad expansion", "FROM busybox\nENV A=\"${UNSET:?must be set}\"\n", "UNSET: must be set"},
	} {
		ctx := e.context("ctx-"+strings.ReplaceAll(tc.name, " ", "-"), map[string]string{"Dockerfile": tc.dockerfile})
		r := e.pcr(60*time.Second, "build", "-t", "broken", ctx)
		if r.code == 0 {
			t.Errorf("%s: build succeeded, want failure with %q", tc.name, tc.want)
			continue
		}
		if r.code != 125 {
			t.Errorf("%s: exit %d, want 125", tc.name, r.code)
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q lacks %q", tc.name, r.stderr, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
			t.Errorf("%s: error is %d lines, want one: %q", tc.name, n+1, r.stderr)
		}
	}
	if r := e.pcr(30*time.Second, "image", "inspect", "broken"); r.code == 0 {
		t.Errorf("a failed build tagged an image: %s", r.stdout)
	}
	if r := e.pcr(30*time.Second, "image", "inspect", "busybox").ok(t); !strings.Contains(r.stdout, strings.TrimSpace(before)) {
		t.Errorf("busybox changed: was %s, now %s", before, r.stdout)
	}
}

func TestBuildDebianPHPFixture(t *testing.T) {
	requirePrereqs(t)
	archive := filepath.Join(fixtures, "debian-php.tar")
	if _, err := os.Stat(archive); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("debian-php fixture missing under CI=true (make fixtures): %v", err)
		}
		t.Skipf("debian-php fixture missing (make fixtures): %v", err)
	}
	e := newBldEnv(t)
	e.pcr(120*time.Second, "load", "-q", "-i", archive).ok(t)
	img := e.inspect("debian-php")
	if len(img.RootFS.Layers) != 2 {
		t.Fatalf("debian-php has %d layers, want 2 (debian + the php RUN)", len(img.RootFS.Layers))
	}
	layers := bldLayers(t, archive)
	if len(layers) != 2 {
		t.Fatalf("debian-php archive has %d layers, want 2", len(layers))
	}
	if in := whichLayers(layers, "usr/bin/php"); len(in) != 1 || in[0] != 1 {
		t.Errorf("usr/bin/php is in layers %v, want the top one only", in)
	}
	if in := whichLayers(layers, "usr/bin/dash"); len(in) != 1 || in[0] != 0 {
		t.Errorf("usr/bin/dash is in layers %v, want the debian base only", in)
	}
	if in := whichLayers(layers, "etc/debian_version"); len(in) != 1 || in[0] != 0 {
		t.Errorf("etc/debian_version is in layers %v, want the base only", in)
	}
	// The two layers stacked as the engine stacks them run PHP.
	lower := img.GraphDriver.Data["LowerDir"]
	if lower == "" {
		t.Fatalf("image inspect gives no GraphDriver.Data.LowerDir: %+v", img.GraphDriver)
	}
	merged := filepath.Join(e.dir, "merged")
	os.Mkdir(merged, 0o755)
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir="+lower, merged).CombinedOutput(); err != nil {
		t.Fatalf("mount overlay: %v: %s", err, out)
	}
	defer exec.Command("umount", merged).Run()
	out, err := exec.Command("chroot", merged, "php", "-r", "echo PHP_VERSION, PHP_EOL;").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^\d+\.\d+\.\d+`).Match(out) {
		t.Errorf("chroot php: %v: %s", err, out)
	}
}

// A build SIGKILLed in the middle of a RUN leaves its container, mount and
// workspace; the next build sweeps them away.
func TestBuildKilledMidRunIsSweptByNextBuild(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	slow := e.context("slow", map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 60\n"})
	quick := e.context("quick", map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	cmd := exec.Command(pcrBin, "--root", e.root, "--state", e.state, "build", slow)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Running in") {
				running <- true
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the RUN step did not start")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if tmps, _ := filepath.Glob(filepath.Join(e.root, "build", "tmp-*")); len(tmps) != 1 {
		t.Fatalf("after SIGKILL, workspaces %v: want the killed step's one", tmps)
	}
	e.pcr(60*time.Second, "build", quick).ok(t)
	// checkNoLeaks (cleanup) asserts the sweep: no workspace, mount, container or cgroup.
}

// A symlink in the build context that points out of it resolves inside the
// context, as the container would see it: COPY through it never reads the
// host's file. With no such file in the context the build fails with one
// line; with one, that is what is copied.
func TestBuildContextSymlinkCannotEscape(t *testing.T) {
	host, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Fatalf("the host needs an /etc/hostname for this test: %v", err)
	}
	e := newBldEnv(t)
	e.importBusybox()
	for _, target := range []string{"/etc", "../../../../../../../etc"} {
		ctx := e.context("ctx-escape", map[string]string{"Dockerfile": "FROM busybox\nCOPY ln/hostname /x\n"})
		if err := os.Symlink(target, filepath.Join(ctx, "ln")); err != nil {
			t.Fatal(err)
		}
		r := e.pcr(60*time.Second, "build", "-t", "escape", ctx)
		if r.code == 0 {
			layers := e.savedLayers("escape")
			t.Fatalf("ln -> %s: build succeeded; /x = %q (host's hostname %q)", target,
				layers[len(layers)-1]["x"].content, host)
		}
		want := "ln/hostname: no such file or directory in the build context"
		if r.code != 125 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("ln -> %s: exit %d stderr %q, want 125 and one line with %q", target, r.code, r.stderr, want)
		}

		// An etc inside the context is what the link leads to.
		e.context("ctx-escape", map[string]string{"etc/hostname": "from the context\n"})
		e.pcr(60*time.Second, "build", "-t", "escape", ctx).ok(t)
		layers := e.savedLayers("escape")
		if got := layers[len(layers)-1]["x"].content; got != "from the context\n" {
			t.Errorf("ln -> %s: /x = %q, want the context's etc/hostname", target, got)
		}
		if err := os.RemoveAll(ctx); err != nil {
			t.Fatal(err)
		}
		e.pcr(30*time.Second, "rmi", "escape").ok(t)
	}
}

// ADD unpacks a compressed tar but copies any other compressed file as it
// is, as Docker does.
func TestBuildAddCompressedNonTarCopiesAsIs(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat("just text, not a tar\n", 50)))
	zw.Close()
	ctx := e.context("ctx-addgz", map[string]string{
		"Dockerfile":   "FROM busybox\nADD notes.txt.gz /data/\nADD files.tar.gz /opt/\n",
		"notes.txt.gz": gz.String(),
		"files.tar.gz": bldTarGz(t, map[string]string{"y.txt": "from tar\n"}),
	})
	e.pcr(60*time.Second, "build", "-t", "addgz", ctx).ok(t)
	layers := e.savedLayers("addgz")
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3", len(layers))
	}
	if got := layers[1]["data/notes.txt.gz"].content; got != gz.String() {
		t.Errorf("data/notes.txt.gz is %d bytes, want the original %d", len(got), gz.Len())
	}
	if got := layers[2]["opt/y.txt"].content; got != "from tar\n" {
		t.Errorf("opt/y.txt = %q, want the tar's content", got)
	}
}

// A build holds the store's use lock for its whole run: `image prune -a`
// started during a RUN waits for the build instead of deleting the image
// whose layers the RUN's overlay stands on.
func TestBuildHoldsStoreAgainstPrune(t *testing.T) {
	e := newBldEnv(t)
	e.importBusybox()
	ctx := e.context("ctx-prune", map[string]string{
		"Dockerfile": "FROM busybox\nRUN sleep 3 && cat /bin/busybox > /copy\nRUN cmp /bin/busybox /copy\n",
	})
	build := exec.Command(pcrBin, "--root", e.root, "--state", e.state, "build", "-t", "held", ctx)
	var bout bytes.Buffer
	build.Stdout, build.Stderr = &bout, &bout
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	buildDone := make(chan error, 1)
	var buildEnd time.Time
	go func() {
		err := build.Wait()
		buildEnd = time.Now()
		buildDone <- err
	}()
	time.Sleep(1500 * time.Millisecond) // inside the first RUN's sleep
	r := e.pcr(90*time.Second, "image", "prune", "-a", "-f")
	pruneEnd := time.Now()
	select {
	case err := <-buildDone:
		if err != nil {
			t.Fatalf("build failed while prune ran: %v\n%s", err, bout.String())
		}
	case <-time.After(90 * time.Second):
		build.Process.Kill()
		<-buildDone
		t.Fatalf("build did not finish:\n%s", bout.String())
	}
	r.ok(t)
	if pruneEnd.Before(buildEnd) {
		t.Errorf("prune finished at %s, before the build it should wait for (%s)", pruneEnd.Format(time.StampMilli), buildEnd.Format(time.StampMilli))
	}
}
