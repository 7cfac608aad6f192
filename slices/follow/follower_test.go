package follow

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcr/engine"
	"pcr/rspec"
	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/vserver"
	"pcr/vserver/node"
)

func sliver(slice string, mods ...func(*api.Sliver)) api.Sliver {
	s := api.Sliver{Slice: slice, Site: strings.SplitN(slice, "_", 2)[0], Image: "busybox",
		Rspec: rspec.Rspec{Memory: 64 << 20}, Expires: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func TestJoinWritesKeyAndCertificate(t *testing.T) {
	a := newWireAuthority(t)
	a.publish(api.Assignment{Revision: 3, Slivers: []api.Sliver{sliver("pl_a")}})
	dir := filepath.Join(t.TempDir(), "node")
	cfg := a.config("node1", filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"), &logBuffer{})
	cfg.JoinToken = a.token
	f, err := New(testContext(t), cfg)
	if err != nil {
		t.Fatalf("New with a join token: %v", err)
	}
	for path, want := range map[string]os.FileMode{cfg.KeyFile: 0o600, cfg.CertFile: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("after join: %v", err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
	data, _ := os.ReadFile(cfg.CertFile)
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("certificate file holds no PEM: %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ca.IdentityOf(cert); err != nil || id.Name != "node1" || id.Role != ca.RoleNode {
		t.Errorf("joined certificate is %v (%v), want node node1", id, err)
	}
	// The files are a working identity: the follower read its slivers.
	specs, err := f.Desired(t.Context())
	if err != nil || len(specs) != 1 || specs[0].Slice != "pl_a" {
		t.Fatalf("Desired after join = %v, %v; want pl_a", specs, err)
	}
	// A second start uses the files and not the spent token.
	cfg.JoinToken = "spent"
	if _, err := New(testContext(t), cfg); err != nil {
		t.Fatalf("restart of a joined node: %v", err)
	}
}

func TestJoinWithABadTokenGivesTheAuthoritysLine(t *testing.T) {
	a := newWireAuthority(t)
	dir := t.TempDir()
	cfg := a.config("node1", filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"), &logBuffer{})
	cfg.JoinToken = "wrong"
	_, err := New(testContext(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "join token invalid or already used") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("New with a bad token: %v; want the authority's one line", err)
	}
	for _, p := range []string{cfg.CertFile, cfg.KeyFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s written after a refused join", p)
		}
	}
}

func TestNoCertificateAndNoTokenNamesTheFlags(t *testing.T) {
	a := newWireAuthority(t)
	dir := t.TempDir()
	cfg := a.config("node1", filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"), &logBuffer{})
	_, err := New(testContext(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "--join-token") || !strings.Contains(err.Error(), "--cert") {
		t.Fatalf("New without cert or token: %v; want the flags named", err)
	}
	cfg.CAFile = ""
	if _, err := New(testContext(t), cfg); err == nil || !strings.Contains(err.Error(), "missing --ca") {
		t.Fatalf("New without --ca: %v", err)
	}
}

func TestForeignNodeNameGetsTheAuthoritysRefusal(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	_, err := New(testContext(t), a.config("node2", certFile, keyFile, &logBuffer{}))
	if err == nil || !strings.Contains(err.Error(), "node node1 may not act for node node2") {
		t.Fatalf("New as node2 with node1's certificate: %v; want the authority's 403 line", err)
	}
}

func TestWatchGivesDesiredAndChanged(t *testing.T) {
	a := newWireAuthority(t)
	a.publish(api.Assignment{Revision: 5, Slivers: []api.Sliver{sliver("pl_a")}})
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "authority" {
		t.Errorf("Name = %q, want authority", f.Name())
	}
	drain(f.Changed())
	net := &api.SliverNetwork{VNI: 42, Subnet: "10.200.0.0/24", Address: "10.200.0.2"}
	a.publish(api.Assignment{Revision: 6, Slivers: []api.Sliver{
		sliver("pl_a", func(s *api.Sliver) { s.Stopped, s.RestartGeneration = true, 2 }),
		sliver("pl_b", func(s *api.Sliver) { s.Image, s.Network = "debian", net }),
	}})
	select {
	case <-f.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("no Changed after a new assignment")
	}
	specs, err := f.Desired(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []vserver.Spec{
		{Slice: "pl_a", Image: "busybox", Rspec: rspec.Rspec{Memory: 64 << 20}, Expires: sliver("pl_a").Expires, Stopped: true, RestartGeneration: 2},
		{Slice: "pl_b", Image: "debian", Rspec: rspec.Rspec{Memory: 64 << 20}, Expires: sliver("pl_a").Expires},
	}
	if len(specs) != len(want) {
		t.Fatalf("Desired = %+v, want %+v", specs, want)
	}
	for i := range want {
		if specs[i].Slice != want[i].Slice || specs[i].Image != want[i].Image || specs[i].Rspec != want[i].Rspec ||
			!specs[i].Expires.Equal(want[i].Expires) || specs[i].Stopped != want[i].Stopped || specs[i].RestartGeneration != want[i].RestartGeneration {
			t.Errorf("Desired[%d] = %+v, want %+v", i, specs[i], want[i])
		}
	}
	if s, ok := f.Sliver("pl_b"); !ok || s.Network == nil || s.Network.VNI != 42 {
		t.Errorf("Sliver(pl_b) = %+v, %v; want its network kept", s, ok)
	}
	if f.Err() != nil {
		t.Errorf("Err while the stream is up: %v", f.Err())
	}
}

func TestBrokenStreamReconnectsAndKeepsTheLastSet(t *testing.T) {
	a := newWireAuthority(t)
	a.publish(api.Assignment{Revision: 2, Slivers: []api.Sliver{sliver("pl_a")}})
	certFile, keyFile := a.nodeFiles("node1")
	logs := &logBuffer{}
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, logs))
	if err != nil {
		t.Fatal(err)
	}
	a.cut(true)
	eventually(t, 10*time.Second, "Err reports the authority down", func() bool {
		return f.Err() != nil && strings.Contains(f.Err().Error(), "the authority is starting")
	})
	// Let it retry a few times: the outage is logged once per cause.
	time.Sleep(2 * time.Second)
	specs, err := f.Desired(t.Context())
	if err != nil || len(specs) != 1 || specs[0].Slice != "pl_a" {
		t.Fatalf("Desired while the authority is down = %v, %v; want the last set (pl_a)", specs, err)
	}
	if n := logs.count("the authority is starting"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, logs)
	}
	a.publish(api.Assignment{Revision: 3, Slivers: []api.Sliver{sliver("pl_b")}})
	a.setDown(false)
	eventually(t, 15*time.Second, "the follower reconnects and takes the new set", func() bool {
		specs, err := f.Desired(t.Context())
		return err == nil && len(specs) == 1 && specs[0].Slice == "pl_b" && f.Err() == nil
	})
}

func TestDesiredIsAnErrorUntilAFirstAssignment(t *testing.T) {
	a := newWireAuthority(t)
	a.setDown(true)
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatalf("New while the authority is down must not fail: %v", err)
	}
	if _, err := f.Desired(t.Context()); err == nil || !strings.Contains(err.Error(), "no assignment from the authority yet") {
		t.Fatalf("Desired before any assignment: %v", err)
	}
	a.setDown(false)
	eventually(t, 15*time.Second, "a first assignment arrives", func() bool {
		_, err := f.Desired(t.Context())
		return err == nil
	})
}

// fakeNode is the daemon as the follower sees it.
type fakeNode struct {
	mu   sync.Mutex
	vs   []*vserver.VServer
	exec func(slice string, o engine.ExecOptions) (int, error)
}

func (n *fakeNode) List() ([]*vserver.VServer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*vserver.VServer, len(n.vs))
	for i, v := range n.vs {
		c := *v
		out[i] = &c
	}
	return out, nil
}

func (n *fakeNode) Stats(slice string) (*vserver.Stats, error) {
	return &vserver.Stats{Slice: slice, CPUSeconds: 1.5, MemoryBytes: 10 << 20, MemoryLimit: 64 << 20, DiskUsed: 4096, Pids: 3}, nil
}

func (n *fakeNode) Exec(slice string, o engine.ExecOptions) (int, error) { return n.exec(slice, o) }

func (n *fakeNode) Info() *node.NodeInfo {
	pol, err := node.ParsePolicy([]byte(`{"deny_sites":["spam"],"max_vservers":4,"caps":{"memory":"1G"}}`), node.NodeResources{CPUs: 4, Memory: 8 << 30})
	if err != nil {
		panic(err)
	}
	return &node.NodeInfo{Policy: pol}
}

func (n *fakeNode) Capacity() node.Capacity {
	return node.Capacity{CPUs: 3.5, Memory: 6 << 30, Disk: 100 << 30, NofileMax: 1 << 20, MaxVservers: 4, Images: []string{"busybox", "busybox:latest"}}
}

func (n *fakeNode) setState(slice, state string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range n.vs {
		if v.Slice == slice {
			v.State = state
		}
	}
}

func nextReport(t *testing.T, a *wireAuthority) api.Report {
	t.Helper()
	select {
	case r := <-a.reports:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no report")
	}
	return api.Report{}
}

func TestReportsCarryTheAuthoritysSlivers(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	cfg := a.config("node1", certFile, keyFile, &logBuffer{})
	cfg.ReportInterval = time.Hour // only the first report and those Passed asks for
	f, err := New(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{vs: []*vserver.VServer{
		{Spec: vserver.Spec{Slice: "pl_a"}, Origin: SourceName, State: vserver.StateRunning, ContainerID: "c1", IPAddress: "10.88.0.5", Restarts: 2},
		{Spec: vserver.Spec{Slice: "pl_b"}, Origin: SourceName, State: vserver.StateRefused, Reason: "site pl is refused by the node's policy"},
		{Spec: vserver.Spec{Slice: "pl_mine"}, Origin: vserver.OriginAdmin, State: vserver.StateRunning, ContainerID: "c3"},
	}}
	f.Attach(n)
	r := nextReport(t, a)
	if r.Address != "192.0.2.7" || r.Capacity.CPUs != 3.5 || r.Capacity.Memory != 6<<30 || r.Capacity.MaxVservers != 4 || r.Capacity.NofileMax != 1<<20 {
		t.Errorf("report's address and capacity = %q %+v", r.Address, r.Capacity)
	}
	if strings.Join(r.Images, " ") != "busybox busybox:latest" {
		t.Errorf("report's images = %q", r.Images)
	}
	if r.Policy != "deny sites spam; max 4 vservers; caps memory=1G" {
		t.Errorf("report's policy = %q", r.Policy)
	}
	if len(r.Slivers) != 2 {
		t.Fatalf("report's slivers = %+v, want pl_a and pl_b only (not the admin's)", r.Slivers)
	}
	sa, sb := r.Slivers[0], r.Slivers[1]
	if sa.Slice != "pl_a" || sa.State != "running" || sa.Address != "10.88.0.5" || sa.Restarts != 2 || sa.Usage == nil ||
		sa.Usage.CPUSeconds != 1.5 || sa.Usage.MemoryBytes != 10<<20 || sa.Usage.DiskBytes != 4096 || sa.Usage.Pids != 3 {
		t.Errorf("pl_a reported as %+v (usage %+v)", sa, sa.Usage)
	}
	if sb.Slice != "pl_b" || sb.State != "refused" || sb.Reason != "site pl is refused by the node's policy" || sb.Usage != nil {
		t.Errorf("pl_b reported as %+v", sb)
	}

	// A pass that changes nothing asks for nothing; one that changes a
	// state reports at once.
	vs, _ := n.List()
	f.Passed(vs)
	select {
	case r := <-a.reports:
		t.Fatalf("a pass with no change sent a report: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	n.setState("pl_a", vserver.StateStopped)
	vs, _ = n.List()
	f.Passed(vs)
	r = nextReport(t, a)
	if len(r.Slivers) == 0 || r.Slivers[0].State != "stopped" || !strings.Contains(r.Slivers[0].Reason, "its init exited") {
		t.Errorf("report after a state change = %+v", r.Slivers)
	}
}

func TestReportFailuresAreLoggedOncePerOutage(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	logs := &logBuffer{}
	cfg := a.config("node1", certFile, keyFile, logs)
	cfg.ReportInterval = 50 * time.Millisecond
	f, err := New(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.setDown(true)
	f.Attach(&fakeNode{})
	time.Sleep(500 * time.Millisecond)
	if n := logs.count("report to the authority failed"); n != 1 {
		t.Errorf("a failing report was logged %d times in 10 tries, want once:\n%s", n, logs)
	}
	a.setDown(false)
	nextReport(t, a)
	eventually(t, 5*time.Second, "the recovery is logged", func() bool { return logs.count("reports reach the authority again") == 1 })
}

func TestExecJobRunsOnceAndPostsItsResult(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := 0
	f.Attach(&fakeNode{exec: func(slice string, o engine.ExecOptions) (int, error) {
		mu.Lock()
		runs++
		mu.Unlock()
		if slice != "pl_a" || strings.Join(o.Cmd, " ") != "sh -c echo hi" {
			t.Errorf("Exec(%q, %q)", slice, o.Cmd)
		}
		o.Stdio.Out.WriteString("hi\n")
		// More than the cap on stderr: it is cut, and the command is not
		// blocked by a full pipe.
		o.Stdio.Err.Write(make([]byte, api.MaxExecOutput+4096))
		return 3, nil
	}})
	job := api.ExecJob{ID: "job-1", Slice: "pl_a", Cmd: []string{"sh", "-c", "echo hi"}, Deadline: time.Now().Add(time.Minute), By: "alice"}
	a.publish(api.Assignment{Revision: 2, Exec: []api.ExecJob{job}})
	var got postedResult
	select {
	case got = <-a.results:
	case <-time.After(10 * time.Second):
		t.Fatal("no exec result posted")
	}
	if got.id != "job-1" || got.result.Node != "node1" || got.result.ExitCode != 3 || got.result.Stdout != "hi\n" ||
		len(got.result.Stderr) != api.MaxExecOutput || got.result.Error != "" {
		t.Errorf("result %s = node %q exit %d stdout %q stderr %d bytes error %q", got.id, got.result.Node, got.result.ExitCode,
			got.result.Stdout, len(got.result.Stderr), got.result.Error)
	}
	// The job still in the next assignment is not run again.
	a.publish(api.Assignment{Revision: 3, Exec: []api.ExecJob{job}})
	select {
	case r := <-a.results:
		t.Fatalf("job run twice: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 1 {
		t.Errorf("the command ran %d times, want once", runs)
	}
}

func TestExecPastItsDeadlinePostsAnError(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	f.Attach(&fakeNode{exec: func(string, engine.ExecOptions) (int, error) {
		<-release
		return 0, nil
	}})
	a.publish(api.Assignment{Revision: 2, Exec: []api.ExecJob{
		{ID: "slow", Slice: "pl_a", Cmd: []string{"sleep", "60"}, Deadline: time.Now().Add(300 * time.Millisecond)},
	}})
	select {
	case got := <-a.results:
		if got.id != "slow" || !strings.Contains(got.result.Error, "no answer by its deadline") || !strings.Contains(got.result.Error, "left running") {
			t.Errorf("result %s = %+v; want a deadline error", got.id, got.result)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no result posted after the deadline")
	}
}

func TestExecResultIsPostedAgainAfterA5xx(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	f.Attach(&fakeNode{exec: func(_ string, o engine.ExecOptions) (int, error) {
		o.Stdio.Out.WriteString("done\n")
		return 0, nil
	}})
	a.mu.Lock()
	a.resultFailures = 2
	a.mu.Unlock()
	a.publish(api.Assignment{Revision: 2, Exec: []api.ExecJob{{ID: "j", Slice: "pl_a", Cmd: []string{"true"}, Deadline: time.Now().Add(time.Minute)}}})
	select {
	case got := <-a.results:
		if got.id != "j" || got.result.Stdout != "done\n" {
			t.Errorf("result %s = %+v", got.id, got.result)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the result was not posted again after two 503 answers")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.resultFailures != 0 {
		t.Errorf("%d refusals left: the result was posted before them", a.resultFailures)
	}
}

func TestExecFailurePostsTheNodesLine(t *testing.T) {
	a := newWireAuthority(t)
	certFile, keyFile := a.nodeFiles("node1")
	f, err := New(testContext(t), a.config("node1", certFile, keyFile, &logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	f.Attach(&fakeNode{exec: func(slice string, _ engine.ExecOptions) (int, error) {
		return 0, &os.PathError{Op: "exec", Path: slice, Err: os.ErrNotExist}
	}})
	a.publish(api.Assignment{Revision: 2, Exec: []api.ExecJob{{ID: "j", Slice: "pl_x", Cmd: []string{"true"}, Deadline: time.Now().Add(time.Minute)}}})
	select {
	case got := <-a.results:
		if got.result.Error != "exec pl_x: file does not exist" || got.result.ExitCode != 125 {
			t.Errorf("result = %+v", got.result)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no result posted")
	}
}

func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
