package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cluster is a slice authority and K nodes on this machine, as the
// multi-node tests need them: each node is a network namespace the test
// makes, with its own address on an underlay bridge, its own --root and
// --state, and a `pcr node serve` that follows the authority. The
// authority and the bridge live in a "hub" namespace, so that every
// packet of the test stays inside namespaces it made. Only the network
// namespace changes (nsenter --net): mounts and cgroups are the host's,
// so the usual leak checks see them.
type cluster struct {
	t   *testing.T
	dir string
	tag string
	// hub is the namespace of the authority, the underlay bridge and the
	// CLI; nodes are by name.
	hub   string
	nodes map[string]*clusterNode
	order []string
	auth  *daemonProc
	// authRoot is the authority's --root; creds are the admin's.
	authRoot string
	env      []string
	// before are pcr's parent cgroups before the test (as engineEnv).
	pcrCgroups    map[string]bool
	cgroupsBefore map[string]bool
}

type clusterNode struct {
	name, addr, root, state, socket string
	cert, key                       string
	token                           string
	proc                            *daemonProc
}

// daemonProc is a long-running pcr started by the test, stopped by PID.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

const (
	hubAddr       = "10.77.0.1"
	authorityPort = "7443"
)

func newCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	requirePrereqs(t)
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("missing %s under CI=true", tool)
			}
			t.Skipf("missing %s", tool)
		}
	}
	dir := t.TempDir()
	// Vservers' roots are unprivileged host UIDs that must reach their
	// rootfs through the test's dirs.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	b := make([]byte, 3)
	rand.Read(b)
	c := &cluster{t: t, dir: dir, tag: "pcrt" + hex.EncodeToString(b), nodes: map[string]*clusterNode{},
		authRoot: filepath.Join(dir, "authority")}
	c.pcrCgroups = pcrParentCgroups()
	c.cgroupsBefore = pcrChildCgroups(c.pcrCgroups)
	c.hub = c.tag + "h"
	t.Cleanup(c.cleanup)
	c.ip("netns", "add", c.hub)
	c.ipIn(c.hub, "link", "set", "lo", "up")
	c.ipIn(c.hub, "link", "add", "ul", "type", "bridge")
	c.ipIn(c.hub, "addr", "add", hubAddr+"/24", "dev", "ul")
	c.ipIn(c.hub, "link", "set", "ul", "up")

	c.pcr(c.hub, "--root", c.authRoot, "authority", "init").ok(t)
	admin := filepath.Join(c.authRoot, "authority", "admin")
	c.env = []string{"PCR_AUTHORITY=https://" + hubAddr + ":" + authorityPort,
		"PCR_CA=" + filepath.Join(admin, "ca.crt"), "PCR_CERT=" + filepath.Join(admin, "admin.crt"),
		"PCR_KEY=" + filepath.Join(admin, "admin.key")}
	c.startAuthority()
	for i := 1; i <= nodes; i++ {
		c.addNode(fmt.Sprintf("n%d", i))
	}
	for _, n := range c.order {
		c.startNode(n)
	}
	c.waitNodesUp(c.order...)
	return c
}

// ip runs ip(8) on the host, failing the test on error.
func (c *cluster) ip(args ...string) {
	c.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		c.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (c *cluster) ipIn(ns string, args ...string) {
	c.t.Helper()
	c.ip(append([]string{"-n", ns}, args...)...)
}

func (c *cluster) netnsPath(ns string) string { return "/run/netns/" + ns }

// command is `nsenter --net=NS pcr args…` with the admin's credentials
// in its environment.
func (c *cluster) command(ns string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"--net=" + c.netnsPath(ns), "--", pcrBin}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	return cmd
}

// pcr runs pcr in namespace ns with a 60 s limit.
func (c *cluster) pcr(ns string, args ...string) result {
	return c.pcrEnv(ns, nil, args...)
}

func (c *cluster) pcrEnv(ns string, env []string, args ...string) result {
	cmd := c.command(ns, args...)
	cmd.Env = append(cmd.Env, env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		return result{args: args, err: err, code: -1}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		err = <-done
		c.t.Errorf("pcr %s: timed out after 60s", strings.Join(args, " "))
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	} else if err != nil {
		code = -1
	}
	return result{args: args, stdout: so.String(), stderr: se.String(), code: code, err: err}
}

// cli runs a user command (pcr slice …, pcr node ls) from the hub.
func (c *cluster) cli(args ...string) result { return c.pcr(c.hub, args...) }

// start launches a daemon in ns, logging to a file of the test's dir.
func (c *cluster) start(ns, name string, args ...string) *daemonProc {
	c.t.Helper()
	log := filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	f, err := os.Create(log)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	cmd := c.command(ns, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.done) }()
	return p
}

func (p *daemonProc) logText() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

func (p *daemonProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends a daemon with SIGTERM (SIGKILL after 30 s, a failure).
func (c *cluster) stop(p *daemonProc, what string) {
	c.t.Helper()
	if p == nil || p.exited() {
		return
	}
	// nsenter execs pcr, so the PID is pcr's.
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		c.t.Errorf("%s did not stop in 30s after SIGTERM:\n%s", what, p.logText())
	}
}

// kill9 ends a daemon as a crash would.
func (c *cluster) kill9(p *daemonProc) {
	if p == nil || p.exited() {
		return
	}
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (c *cluster) startAuthority() {
	c.t.Helper()
	c.auth = c.start(c.hub, "authority", "--root", c.authRoot, "authority", "serve",
		"--listen", hubAddr+":"+authorityPort, "--staleness", "3s")
	c.waitFor("the authority to serve", 30*time.Second, func() bool {
		if c.auth.exited() {
			c.t.Fatalf("pcr authority serve exited at start:\n%s", c.auth.logText())
		}
		return c.cli("node", "ls").code == 0
	})
}

// addNode makes node name's namespace, wires it to the underlay and
// registers it with the authority; startNode then runs its manager.
func (c *cluster) addNode(name string) {
	c.t.Helper()
	idx := len(c.order) + 1
	n := &clusterNode{name: name, addr: fmt.Sprintf("10.77.0.%d", 10+idx),
		root: filepath.Join(c.dir, name, "root"), state: filepath.Join(c.dir, name, "state")}
	n.socket = filepath.Join(c.dir, name, "node.sock")
	n.cert, n.key = filepath.Join(c.dir, name, name+".crt"), filepath.Join(c.dir, name, name+".key")
	if err := os.MkdirAll(filepath.Join(c.dir, name), 0o711); err != nil {
		c.t.Fatal(err)
	}
	ns := c.tag + name
	c.ip("netns", "add", ns)
	c.nodes[name] = n
	c.order = append(c.order, name)
	c.ipIn(ns, "link", "set", "lo", "up")
	c.ipIn(c.hub, "link", "add", "ul-"+name, "type", "veth", "peer", "name", "ul0", "netns", ns)
	c.ipIn(c.hub, "link", "set", "ul-"+name, "master", "ul", "up")
	c.ipIn(ns, "addr", "add", n.addr+"/24", "dev", "ul0")
	c.ipIn(ns, "link", "set", "ul0", "up")
	c.pcr(ns, "--root", n.root, "--state", n.state, "import", engineBusyboxTar(), "busybox").ok(c.t)
	out := c.cli("authority", "add-node", name, "--address", n.addr).ok(c.t).stdout
	tok := regexp.MustCompile(`pcrjoin-[a-z0-9._-]+`).FindString(out)
	if tok == "" {
		c.t.Fatalf("authority add-node %s printed no token:\n%s", name, out)
	}
	n.token = tok
}

func (c *cluster) nodeNS(name string) string { return c.tag + name }

// startNode runs (or runs again) node name's manager.
func (c *cluster) startNode(name string) {
	c.t.Helper()
	n := c.nodes[name]
	args := []string{"--root", n.root, "--state", n.state, "node", "serve",
		"--authority", "https://" + hubAddr + ":" + authorityPort, "--name", name,
		"--ca", filepath.Join(c.authRoot, "authority", "admin", "ca.crt"), "--cert", n.cert, "--key", n.key,
		"--address", n.addr, "--socket", n.socket,
		"--interval", "2s", "--stats-interval", "1s", "--report-interval", "1s"}
	if _, err := os.Stat(n.cert); err != nil {
		args = append(args, "--join-token", n.token)
	}
	n.proc = c.start(c.nodeNS(name), "node-"+name, args...)
}

// jsonLines decodes --format json output: one object per line, as
// Docker prints lists.
func jsonLines[T any](out string) ([]T, error) {
	var list []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, nil
}

// nodeRow is one node of `pcr node ls --format json`.
type nodeRow struct {
	Name     string
	Health   string
	LastSeen time.Time
}

func (c *cluster) nodeList() map[string]nodeRow {
	c.t.Helper()
	out := c.cli("node", "ls", "--format", "json").ok(c.t).stdout
	rows, err := jsonLines[nodeRow](out)
	if err != nil {
		c.t.Fatalf("node ls --format json: %v: %s", err, out)
	}
	m := map[string]nodeRow{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

func (c *cluster) waitNodesUp(names ...string) {
	c.t.Helper()
	c.waitFor("nodes "+strings.Join(names, ",")+" up", 60*time.Second, func() bool {
		for _, n := range names {
			if p := c.nodes[n].proc; p != nil && p.exited() {
				c.t.Fatalf("node %s's manager exited:\n%s", n, p.logText())
			}
		}
		rows := c.nodeList()
		for _, n := range names {
			if rows[n].Health != "up" {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond every 100 ms until it holds or limit passes.
func (c *cluster) waitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %s for %s\n%s", limit, what, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logs is the tail of every daemon's log, for a failure message.
func (c *cluster) logs() string {
	var b strings.Builder
	tail := func(name string, p *daemonProc) {
		if p == nil {
			return
		}
		lines := strings.Split(strings.TrimRight(p.logText(), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", name, strings.Join(lines, "\n"))
	}
	tail("authority", c.auth)
	for _, n := range c.order {
		tail("node "+n, c.nodes[n].proc)
	}
	return b.String()
}

// vservers is `pcr vserver ls --format json` on a node, by slice.
func (c *cluster) vservers(node string) map[string]vserverJSON {
	c.t.Helper()
	n := c.nodes[node]
	out := c.pcr(c.nodeNS(node), "--root", n.root, "--state", n.state, "vserver", "ls", "--format", "json").ok(c.t).stdout
	list, err := jsonLines[vserverJSON](out)
	if err != nil {
		c.t.Fatalf("vserver ls on %s: %v: %s", node, err, out)
	}
	m := map[string]vserverJSON{}
	for _, v := range list {
		m[v.Slice] = v
	}
	return m
}

// vserverExec runs a command in the slice's vserver on a node, locally.
func (c *cluster) vserverExec(node, slice string, cmd ...string) result {
	n := c.nodes[node]
	return c.pcr(c.nodeNS(node), append([]string{"--root", n.root, "--state", n.state, "vserver", "exec", slice}, cmd...)...)
}

// waitRunning waits until the slice's vserver runs on each of nodes.
func (c *cluster) waitRunning(slice string, nodes ...string) {
	c.t.Helper()
	c.waitFor(slice+" running on "+strings.Join(nodes, ","), 60*time.Second, func() bool {
		for _, n := range nodes {
			if c.vservers(n)[slice].State != "running" {
				return false
			}
		}
		return true
	})
}

// waitGone waits until no node of nodes has a vserver of the slice.
func (c *cluster) waitGone(slice string, nodes ...string) {
	c.t.Helper()
	c.waitFor(slice+" gone from "+strings.Join(nodes, ","), 60*time.Second, func() bool {
		for _, n := range nodes {
			if _, ok := c.vservers(n)[slice]; ok {
				return false
			}
		}
		return true
	})
}

// cleanup stops every daemon, removes what vservers are left on each
// node, deletes the namespaces and then checks nothing of pcr's is left.
func (c *cluster) cleanup() {
	t := c.t
	for _, name := range c.order {
		n := c.nodes[name]
		c.stop(n.proc, "node "+name)
		if vs := c.vserversQuiet(name); len(vs) > 0 {
			c.pcr(c.nodeNS(name), append([]string{"--root", n.root, "--state", n.state, "vserver", "rm"}, vs...)...)
		}
	}
	c.stop(c.auth, "the authority")
	for _, name := range c.order {
		exec.Command("ip", "netns", "del", c.nodeNS(name)).Run()
	}
	exec.Command("ip", "netns", "del", c.hub).Run()

	if t.Failed() {
		t.Log(c.logs())
	}
	for _, m := range mountsUnder(c.dir) {
		t.Errorf("leaked mount: %s", m)
	}
	for _, ns := range c.leftNetns() {
		t.Errorf("leaked netns: %s", ns)
	}
	checkNoHostLeaks(t, c.dir, c.pcrCgroups, c.cgroupsBefore)
	for _, name := range c.order {
		checkNoVserverLeaks(t, c.nodes[name].root)
	}
}

func (c *cluster) vserversQuiet(node string) []string {
	n := c.nodes[node]
	r := c.pcr(c.nodeNS(node), "--root", n.root, "--state", n.state, "vserver", "ls", "-q")
	return strings.Fields(r.stdout)
}

// leftNetns lists the test's namespaces still mounted under /run/netns.
func (c *cluster) leftNetns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), c.tag) {
			out = append(out, en.Name())
		}
	}
	return out
}
