package integration

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sliceStatusJSON is `pcr slice status NAME --format json`.
type sliceStatusJSON struct {
	Slice struct {
		Name    string
		Nodes   []string
		Expires time.Time
		Network *struct {
			VNI       uint32
			Subnet    string
			Addresses map[string]string
		}
	}
	Nodes []struct {
		Node     string
		State    string
		Reason   string
		Address  string
		LastSeen time.Time
	}
}

func (c *cluster) status(slice string) sliceStatusJSON {
	c.t.Helper()
	out := c.cli("slice", "status", slice, "--format", "json").ok(c.t).stdout
	var s sliceStatusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		c.t.Fatalf("slice status %s: %v: %s", slice, err, out)
	}
	return s
}

func (s sliceStatusJSON) row(node string) (state, reason string) {
	for _, r := range s.Nodes {
		if r.Node == node {
			return r.State, r.Reason
		}
	}
	return "", ""
}

// TestSliceLifecycleAcrossNodes: a slice made on three nodes runs on each
// of them, answers `slice exec --all`, follows node adds and removes and a
// renewal, and its deletion removes every vserver everywhere.
func TestSliceLifecycleAcrossNodes(t *testing.T) {
	c := newCluster(t, 3)
	const slice = "demo_app"
	start := time.Now()
	c.cli("slice", "create", slice, "--image", "busybox", "--nodes", "n1,n2", "--memory", "64M").ok(t)
	c.waitRunning(slice, "n1", "n2")
	t.Logf("slice running on 2 nodes %s after create", time.Since(start).Round(time.Millisecond))
	if _, ok := c.vservers("n3")[slice]; ok {
		t.Errorf("n3 runs %s but is not one of its nodes", slice)
	}
	c.waitFor("status running on n1,n2", 20*time.Second, func() bool {
		s := c.status(slice)
		a, _ := s.row("n1")
		b, _ := s.row("n2")
		return a == "running" && b == "running"
	})

	r := c.cli("slice", "exec", slice, "--all", "--", "hostname").ok(t)
	for _, n := range []string{"n1", "n2"} {
		if !strings.Contains(r.stdout, n+": demo-app") {
			t.Errorf("slice exec --all hostname: no answer from %s:\n%s", n, r.stdout)
		}
	}
	if r := c.cli("slice", "exec", slice, "--node", "n2", "--", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("slice exec exit 3 on n2: exit %d, want 3 (%s)", r.code, r.stderr)
	}

	c.cli("slice", "add-nodes", slice, "n3").ok(t)
	c.waitRunning(slice, "n3")
	c.cli("slice", "remove-nodes", slice, "n1").ok(t)
	c.waitGone(slice, "n1")
	c.waitRunning(slice, "n2", "n3")

	before := c.vservers("n2")[slice].Expires
	c.cli("slice", "renew", slice, "--expires", "30d").ok(t)
	c.waitFor("renewal on n2 and n3", 20*time.Second, func() bool {
		return c.vservers("n2")[slice].Expires.After(before.Add(24*time.Hour)) &&
			c.vservers("n3")[slice].Expires.After(before.Add(24*time.Hour))
	})

	start = time.Now()
	c.cli("slice", "delete", slice).ok(t)
	c.waitGone(slice, "n1", "n2", "n3")
	t.Logf("slice gone from every node %s after delete", time.Since(start).Round(time.Millisecond))
	if out := c.cli("slice", "ls", "-q").ok(t).stdout; strings.Contains(out, slice) {
		t.Errorf("slice ls still lists %s after delete:\n%s", slice, out)
	}
}

// TestSliceSurvivesAuthorityRestart: the vservers keep running while the
// authority is down, nodes report again once it is back, and what the
// authority held (etcd) is all there.
func TestSliceSurvivesAuthorityRestart(t *testing.T) {
	c := newCluster(t, 2)
	const slice = "demo_keep"
	c.cli("slice", "create", slice, "--image", "busybox", "--nodes", "n1,n2").ok(t)
	c.waitRunning(slice, "n1", "n2")
	pid := c.vservers("n1")[slice].Pid

	c.kill9(c.auth)
	time.Sleep(3 * time.Second)
	for _, n := range []string{"n1", "n2"} {
		if v := c.vservers(n)[slice]; v.State != "running" {
			t.Errorf("%s on %s is %s while the authority is down, want running", slice, n, v.State)
		}
	}
	if got := c.vservers("n1")[slice].Pid; got != pid {
		t.Errorf("%s on n1 was restarted while the authority was down (pid %d → %d)", slice, pid, got)
	}

	c.startAuthority()
	c.waitNodesUp("n1", "n2")
	if out := c.cli("slice", "ls", "-q").ok(t).stdout; !strings.Contains(out, slice) {
		t.Fatalf("the restarted authority lost %s:\n%s", slice, out)
	}
	// A change made after the restart reaches the nodes: the watch is back.
	c.cli("slice", "delete", slice).ok(t)
	c.waitGone(slice, "n1", "n2")
}

// TestSliceNodeDownAndBack: a node whose manager is gone shows as
// unreachable with the time it was last seen; once back, it catches up
// with what changed meanwhile.
func TestSliceNodeDownAndBack(t *testing.T) {
	c := newCluster(t, 2)
	const slice, later = "demo_down", "demo_later"
	c.cli("slice", "create", slice, "--image", "busybox", "--nodes", "n1,n2").ok(t)
	c.waitRunning(slice, "n1", "n2")

	c.kill9(c.nodes["n2"].proc)
	c.waitFor("n2 unreachable in slice status", 20*time.Second, func() bool {
		st, reason := c.status(slice).row("n2")
		return st == "unreachable" && reason != ""
	})
	s := c.status(slice)
	for _, r := range s.Nodes {
		if r.Node == "n2" && r.LastSeen.IsZero() {
			t.Errorf("unreachable n2 has no last-seen time: %+v", r)
		}
	}
	if h := c.nodeList()["n2"].Health; h != "unreachable" {
		t.Errorf("node ls: n2 is %q, want unreachable", h)
	}
	// Changed while n2 is away: one slice goes, another comes.
	c.cli("slice", "delete", slice).ok(t)
	c.cli("slice", "create", later, "--image", "busybox", "--nodes", "n2").ok(t)

	c.startNode("n2")
	c.waitNodesUp("n2")
	c.waitGone(slice, "n1", "n2")
	c.waitRunning(later, "n2")
	c.cli("slice", "delete", later).ok(t)
	c.waitGone(later, "n2")
}

// TestSliceExpiresEvenOnACutOffNode: a slice with a short life is removed
// by the authority and by every node, one cut off from the authority
// included (its manager enforces the expiry it was given).
func TestSliceExpiresEvenOnACutOffNode(t *testing.T) {
	c := newCluster(t, 2)
	const slice = "demo_short"
	c.cli("slice", "create", slice, "--image", "busybox", "--nodes", "n1,n2", "--expires", "12s").ok(t)
	c.waitRunning(slice, "n1", "n2")
	// Cut n2 off: its underlay link goes down.
	c.ipIn(c.nodeNS("n2"), "link", "set", "ul0", "down")
	defer c.ipIn(c.nodeNS("n2"), "link", "set", "ul0", "up")
	c.waitFor("expiry everywhere", 40*time.Second, func() bool {
		_, on1 := c.vservers("n1")[slice]
		_, on2 := c.vservers("n2")[slice]
		return !on1 && !on2
	})
	if out := c.cli("slice", "ls", "-q").ok(t).stdout; strings.Contains(out, slice) {
		t.Errorf("the authority still lists expired %s", slice)
	}
}

// TestSliceBadInputLeavesNothing: every bad request is one clear line
// and nothing is made anywhere.
func TestSliceBadInputLeavesNothing(t *testing.T) {
	c := newCluster(t, 1)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"slice", "create", "Bad-Name", "--image", "busybox", "--nodes", "n1"}, "invalid slice name"},
		{[]string{"slice", "create", "demo_x", "--image", "busybox", "--nodes", "n9"}, "unknown node n9"},
		{[]string{"slice", "create", "demo_x", "--image", "nosuchimage", "--nodes", "n1"}, "nosuchimage"},
		{[]string{"slice", "create", "demo_x", "--image", "busybox", "--nodes", "n1", "--memory", "900T"}, "memory"},
		{[]string{"slice", "create", "demo_x", "--image", "busybox", "--nodes", "n1", "--expires", "20w"}, "8 weeks"},
	}
	for _, tc := range cases {
		r := c.cli(tc.args...)
		if r.code == 0 {
			t.Errorf("pcr %s: succeeded, want an error with %q", strings.Join(tc.args, " "), tc.want)
			continue
		}
		msg := strings.TrimSpace(r.stderr)
		if !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
			t.Errorf("pcr %s: error %q, want one line containing %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}
	c.cli("slice", "create", "demo_ok", "--image", "busybox", "--nodes", "n1").ok(t)
	c.cli("slice", "renew", "demo_ok", "--expires", "20w").fails(t, "8 weeks")
	c.cli("slice", "delete", "demo_ok").ok(t)
	c.waitGone("demo_ok", "n1")
	if out := c.cli("slice", "ls", "-q").ok(t).stdout; strings.TrimSpace(out) != "" {
		t.Errorf("slices left after bad input: %s", out)
	}
	if vs := c.vserversQuiet("n1"); len(vs) > 0 {
		t.Errorf("vservers left on n1 after bad input: %v", vs)
	}
}

// TestSliceAccessControl: a user acts only on slices that list it or of
// the site it is PI of; a call without a certificate or with one of
// another CA is refused.
func TestSliceAccessControl(t *testing.T) {
	c := newCluster(t, 1)
	creds := t.TempDir()
	c.cli("authority", "add-user", "alice", "--role", "pi", "--site", "alpha", "--out", creds).ok(t)
	c.cli("authority", "add-user", "bob", "--role", "pi", "--site", "beta", "--out", creds).ok(t)
	as := func(user string) []string {
		return []string{"PCR_CERT=" + creds + "/" + user + ".crt", "PCR_KEY=" + creds + "/" + user + ".key"}
	}
	c.pcrEnv(c.hub, as("alice"), "slice", "create", "alpha_one", "--image", "busybox", "--nodes", "n1").ok(t)
	c.pcrEnv(c.hub, as("bob"), "slice", "delete", "alpha_one").fails(t, "may not")
	c.pcrEnv(c.hub, as("bob"), "slice", "create", "alpha_two", "--image", "busybox", "--nodes", "n1").fails(t, "site alpha")
	// A node's certificate reads only its own slivers: n1's cannot act as a user.
	n1 := c.nodes["n1"]
	c.pcrEnv(c.hub, []string{"PCR_CERT=" + n1.cert, "PCR_KEY=" + n1.key}, "slice", "delete", "alpha_one").fails(t, "")
	// Another CA's admin is refused at the handshake.
	other := t.TempDir()
	c.pcr(c.hub, "--root", other, "authority", "init").ok(t)
	oa := other + "/authority/admin"
	r := c.pcrEnv(c.hub, []string{"PCR_CERT=" + oa + "/admin.crt", "PCR_KEY=" + oa + "/admin.key"}, "slice", "ls")
	if r.code == 0 {
		t.Errorf("a foreign CA's admin listed slices: %s", r.stdout)
	}
	c.pcrEnv(c.hub, as("alice"), "slice", "delete", "alpha_one").ok(t)
	c.waitGone("alpha_one", "n1")
}

// TestSliceOverlayConnectsOnlyItsVservers: the vservers of one slice reach
// each other across nodes at the addresses the authority gave them; a
// vserver of another slice, and the nodes themselves, cannot.
func TestSliceOverlayConnectsOnlyItsVservers(t *testing.T) {
	c := newCluster(t, 3)
	const a, b = "demo_net", "other_net"
	c.cli("slice", "create", a, "--image", "busybox", "--nodes", "n1,n2,n3").ok(t)
	c.cli("slice", "create", b, "--image", "busybox", "--nodes", "n1,n2").ok(t)
	c.waitRunning(a, "n1", "n2", "n3")
	c.waitRunning(b, "n1", "n2")
	sa, sb := c.status(a).Slice.Network, c.status(b).Slice.Network
	if sa == nil || sb == nil || sa.VNI == sb.VNI || sa.Subnet == sb.Subnet {
		t.Fatalf("slices need their own overlays: %+v and %+v", sa, sb)
	}
	// busybox's ping needs a raw socket, which root of a user namespace
	// has not in a network namespace the host owns: TCP it is. Each
	// vserver serves its node's name.
	for _, n := range []string{"n1", "n2", "n3"} {
		c.vserverExec(n, a, "sh", "-c", "mkdir -p /tmp/www && echo "+n+" >/tmp/www/id && httpd -p 8080 -h /tmp/www").ok(t)
	}
	fetch := func(node, slice, addr string) result {
		// nc -w bounds the connect (Debian's busybox wget crashes with -T).
		r := c.vserverExec(node, slice, "sh", "-c", `printf 'GET /id HTTP/1.0\r\n\r\n' | nc -w 3 `+addr+` 8080 | tail -n 1`)
		if r.code == 0 && strings.TrimSpace(r.stdout) == "" {
			r.code = 1
		}
		return r
	}
	for _, from := range []string{"n1", "n2", "n3"} {
		for _, to := range []string{"n1", "n2", "n3"} {
			if from == to {
				continue
			}
			r := fetch(from, a, sa.Addresses[to])
			if r.code != 0 || strings.TrimSpace(r.stdout) != to {
				t.Errorf("%s on %s cannot reach its peer on %s at %s: exit %d %q %s", a, from, to, sa.Addresses[to], r.code, r.stdout, r.stderr)
			}
		}
	}
	// The other slice's vservers, one beside a's on n1 and one on n2, even
	// with a route to a's subnet (added by the host: root of a vserver may
	// not change routes), get nothing through.
	pid := strconv.Itoa(c.vservers("n1")[b].Pid)
	if out, err := exec.Command("nsenter", "-t", pid, "-n", "ip", "route", "add", sa.Subnet, "dev", "eth1").CombinedOutput(); err != nil {
		t.Fatalf("route to %s in %s's netns: %v: %s", sa.Subnet, b, err, out)
	}
	for _, to := range []string{"n1", "n2"} {
		if r := fetch("n1", b, sa.Addresses[to]); r.code == 0 {
			t.Errorf("%s on n1 reached %s's vserver on %s at %s: %q", b, a, to, sa.Addresses[to], r.stdout)
		}
	}
	// The node itself is not on the overlay.
	cmd := exec.Command("ip", "netns", "exec", c.nodeNS("n1"), "timeout", "4", "bash", "-c", "echo > /dev/tcp/"+sa.Addresses["n2"]+"/8080")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("node n1 reached %s's vserver on n2: %s", a, out)
	}
	c.cli("slice", "delete", a, b).ok(t)
	c.waitGone(a, "n1", "n2", "n3")
	c.waitGone(b, "n1", "n2")
}
