package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// netEnv is an engine env whose cleanup also removes the networks the
// test made and checks that no network trace of its containers is left:
// no new pcrv* veth, no lease naming them, no netns mount under the
// test's dirs, no nft rule naming them.
type netEnv struct {
	*engineEnv
	vethsBefore map[string]bool
	// ids are every container the test made, remembered for the nft and
	// lease checks after their directories are gone.
	ids      map[string]bool
	networks []string
}

func newNetEnv(t *testing.T) *netEnv {
	t.Helper()
	e := &netEnv{engineEnv: newEngineEnv(t), vethsBefore: pcrVeths(), ids: map[string]bool{}}
	e.importBusybox()
	// Registered after newEngineEnv's cleanup, so it runs first: remove the
	// containers, then the networks, then look for what is left.
	t.Cleanup(func() {
		e.rememberIDs()
		if ids := e.containerIDs(); len(ids) > 0 {
			e.pcr(append([]string{"rm", "-f"}, ids...)...)
		}
		for _, n := range e.networks {
			e.pcr("network", "rm", n)
		}
		e.checkNoNetLeaks()
	})
	return e
}

func (e *netEnv) rememberIDs() {
	for _, id := range e.containerIDs() {
		e.ids[id] = true
	}
}

// network creates a user network with a name unique to the test.
func (e *netEnv) network(subnet string) string {
	e.t.Helper()
	name := fmt.Sprintf("it%d%d", os.Getpid()%10000, len(e.networks))
	args := []string{"network", "create"}
	if subnet != "" {
		args = append(args, "--subnet", subnet)
	}
	e.pcr(append(args, name)...).ok(e.t)
	e.networks = append(e.networks, name)
	return name
}

// checkNoNetLeaks fails the test for any network trace of its containers.
func (e *netEnv) checkNoNetLeaks() {
	t := e.t
	t.Helper()
	e.rememberIDs()
	// A removed container's veth goes with its netns, which the kernel
	// tears down asynchronously: allow it up to 2 s to disappear.
	now := pcrVeths()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); now = pcrVeths() {
		fresh := false
		for v := range now {
			fresh = fresh || !e.vethsBefore[v]
		}
		if !fresh {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for v := range now {
		if !e.vethsBefore[v] {
			t.Errorf("leaked veth: %s", v)
		}
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, " nsfs ") && strings.Contains(l, e.dir) {
				t.Errorf("leaked netns mount: %s", l)
			}
		}
	}
	// Leases and any other record of the network layer live under --root
	// and --state: no file there may name a removed container.
	for _, top := range []string{e.root, e.state} {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && (d.Name() == "images" || d.Name() == "layers" || d.Name() == "blobs") {
				return filepath.SkipDir
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
				return nil
			}
			data, _ := os.ReadFile(p)
			for id := range e.ids {
				if strings.Contains(p, id[:12]) || strings.Contains(string(data), id[:12]) {
					t.Errorf("leaked network state of container %s: %s", id[:12], p)
				}
			}
			return nil
		})
	}
	rules := nftTable(t)
	for id := range e.ids {
		if strings.Contains(rules, id[:12]) {
			t.Errorf("leaked nft rule naming container %s in table inet pcr", id[:12])
		}
	}
}

// nftTable is pcr's nft table as JSON, or "" when there is none.
func nftTable(t *testing.T) string {
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Errorf("nft is not installed: cannot check pcr's nftables rules")
		}
		return ""
	}
	out, err := exec.Command("nft", "-j", "list", "table", "inet", "pcr").CombinedOutput()
	if err != nil {
		return "" // no table: no rules
	}
	return string(out)
}

func pcrVeths() map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir("/sys/class/net")
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), "pcrv") {
			out[en.Name()] = true
		}
	}
	return out
}

type netInspect struct {
	ID              string `json:"Id"`
	NetworkSettings struct {
		IPAddress string
		Gateway   string
		Ports     map[string][]struct{ HostIp, HostPort string }
		Networks  map[string]struct {
			IPAddress string
			Aliases   []string
		}
	}
}

func (e *netEnv) inspectNet(ref string) netInspect {
	e.t.Helper()
	var out []netInspect
	if err := json.Unmarshal([]byte(e.pcr("inspect", ref).ok(e.t).stdout), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

// httpServer runs busybox httpd in a detached container serving body at /.
func (e *netEnv) httpServer(name, body string, extra ...string) netInspect {
	e.t.Helper()
	args := append([]string{"run", "-d", "--name", name}, extra...)
	args = append(args, "busybox", "sh", "-c", "mkdir -p /www && echo "+body+" > /www/index.html && exec httpd -f -p 80 -h /www")
	e.pcr(args...).ok(e.t)
	return e.inspectNet(name)
}

// fetchScript is a client's sh script: GET url, retrying while the
// server comes up, each try bounded.
func fetchScript(url string) string {
	return "for i in $(seq 40); do timeout 2 wget -q -O - " + url + " && exit 0; sleep 0.1; done; exit 1"
}

func TestNetworkBridgeReachByIP(t *testing.T) {
	e := newNetEnv(t)
	srv := e.httpServer("srv", "hello-by-ip")
	if srv.NetworkSettings.IPAddress == "" {
		t.Fatalf("server has no address: %+v", srv.NetworkSettings)
	}
	if _, ok := srv.NetworkSettings.Networks["pcr"]; !ok {
		t.Errorf("server is not on network pcr: %+v", srv.NetworkSettings.Networks)
	}
	r := e.pcr("run", "--rm", "busybox", "sh", "-c", fetchScript("http://"+srv.NetworkSettings.IPAddress+"/")).ok(t)
	if !strings.Contains(r.stdout, "hello-by-ip") {
		t.Errorf("client got %q", r.stdout)
	}
}

func TestNetworkUserNetworkByName(t *testing.T) {
	e := newNetEnv(t)
	n := e.network("")
	e.httpServer("named-srv", "hello-by-name", "--net", n, "--network-alias", "webalias")
	for _, host := range []string{"named-srv", "webalias"} {
		r := e.pcr("run", "--rm", "--net", n, "busybox", "sh", "-c", fetchScript("http://"+host+"/")).ok(t)
		if !strings.Contains(r.stdout, "hello-by-name") {
			t.Errorf("client asking %s got %q", host, r.stdout)
		}
	}
	// A peer started after the server is in the server's hosts file too
	// (rewritten in place while it runs).
	e.pcr("run", "-d", "--name", "late", "--net", n, "busybox", "sleep", "60").ok(t)
	hosts := e.pcr("exec", "named-srv", "cat", "/etc/hosts").ok(t).stdout
	if !strings.Contains(hosts, "late") {
		t.Errorf("server's /etc/hosts does not name the later peer:\n%s", hosts)
	}
	var insp []struct {
		Containers map[string]struct{ Name string }
	}
	if err := json.Unmarshal([]byte(e.pcr("network", "inspect", n).ok(t).stdout), &insp); err != nil || len(insp) != 1 || len(insp[0].Containers) != 2 {
		t.Errorf("network inspect %s: %v %+v", n, err, insp)
	}
	e.pcr("network", "rm", n).fails(t, n)
}

func TestNetworkIsolation(t *testing.T) {
	e := newNetEnv(t)
	a, b := e.network(""), e.network("")
	srv := e.httpServer("iso-srv", "isolated", "--net", a)
	ip := srv.NetworkSettings.IPAddress
	// The same client on the server's network gets through: the failure
	// below is the isolation, not a broken client.
	e.pcr("run", "--rm", "--net", a, "busybox", "sh", "-c", fetchScript("http://"+ip+"/")).ok(t)
	// Not timeout as the command: it would run wget as PID 1, which
	// ignores the SIGTERM meant to end it.
	r := e.pcr("run", "--rm", "--net", b, "busybox", "sh", "-c", "timeout 2 wget -q -O - http://"+ip+"/; exit $?")
	if r.code == 0 || strings.Contains(r.stdout, "isolated") {
		t.Errorf("a container on %s reached %s on %s: exit %d, %q", b, ip, a, r.code, r.stdout)
	}
}

// freePort is a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet GETs url from the host, retrying for up to 15 s while the
// server starts; each try is bounded by 2 s.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNetworkPublishedPortFromHost(t *testing.T) {
	e := newNetEnv(t)
	port := strconv.Itoa(freePort(t))
	e.httpServer("pub", "hello-published", "-p", port+":80")
	if code, body := httpGet(t, "http://127.0.0.1:"+port+"/"); code != 200 || !strings.Contains(body, "hello-published") {
		t.Errorf("GET 127.0.0.1:%s: %d %q", port, code, body)
	}
	if got := strings.TrimSpace(e.pcr("port", "pub").ok(t).stdout); got != "80/tcp -> 0.0.0.0:"+port {
		t.Errorf("pcr port pub = %q", got)
	}
	// The same host port again: refused, and the second container holds
	// no network (it is created, not running, as Docker leaves it).
	vethsBefore := pcrVeths()
	r := e.pcr("run", "-d", "--name", "pub2", "-p", port+":80", "busybox", "sleep", "60")
	if r.code != 125 {
		t.Fatalf("publishing %s twice: exit %d, stderr %q", port, r.code, r.stderr)
	}
	r.fails(t, port)
	if st := e.status("pub2"); st == "running" {
		t.Errorf("pub2 is %s after its start failed", st)
	}
	if now := pcrVeths(); len(now) != len(vethsBefore) {
		t.Errorf("a failed start left a veth: before %v, after %v", vethsBefore, now)
	}
	id := e.inspectNet("pub2").ID
	if rules := nftTable(t); strings.Contains(rules, id[:12]) {
		t.Errorf("the failed start of %s left nft rules", id[:12])
	}
	// The first one still serves.
	if code, _ := httpGet(t, "http://127.0.0.1:"+port+"/"); code != 200 {
		t.Errorf("after the refused publish, GET 127.0.0.1:%s: %d", port, code)
	}
}

func TestNetworkPublishRandomPort(t *testing.T) {
	e := newNetEnv(t)
	e.httpServer("rnd", "hello-random", "-p", "80")
	out := strings.TrimSpace(e.pcr("port", "rnd", "80/tcp").ok(t).stdout)
	host, port, err := net.SplitHostPort(out)
	if err != nil || host != "0.0.0.0" || port == "0" {
		t.Fatalf("pcr port rnd 80/tcp = %q", out)
	}
	if code, body := httpGet(t, "http://127.0.0.1:"+port+"/"); code != 200 || !strings.Contains(body, "hello-random") {
		t.Errorf("GET 127.0.0.1:%s: %d %q", port, code, body)
	}
	insp := e.inspectNet("rnd")
	if b := insp.NetworkSettings.Ports["80/tcp"]; len(b) != 1 || b[0].HostPort != port {
		t.Errorf("inspect Ports = %+v, want 80/tcp on %s", insp.NetworkSettings.Ports, port)
	}
	e.pcr("port", "rnd", "81").fails(t, "81/tcp")
}

func TestNetworkContainerReachesGateway(t *testing.T) {
	e := newNetEnv(t)
	e.pcr("run", "-d", "--name", "gw", "busybox", "sleep", "60").ok(t)
	gw := e.inspectNet("gw").NetworkSettings.Gateway
	if gw == "" {
		t.Fatal("no gateway in inspect")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", gw, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello-from-host\n") })}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/"
	r := e.pcr("exec", "gw", "timeout", "2", "wget", "-q", "-O", "-", url).ok(t)
	if !strings.Contains(r.stdout, "hello-from-host") {
		t.Errorf("container got %q from %s", r.stdout, url)
	}
}

func TestNetworkNoneHasOnlyLoopback(t *testing.T) {
	e := newNetEnv(t)
	got := strings.Fields(e.pcr("run", "--rm", "--net", "none", "busybox", "ls", "/sys/class/net").ok(t).stdout)
	if !slices.Equal(got, []string{"lo"}) {
		t.Errorf("--net none interfaces = %v, want [lo]", got)
	}
}

func TestNetworkHostSeesHostInterfaces(t *testing.T) {
	e := newNetEnv(t)
	got := strings.Fields(e.pcr("run", "--rm", "--net", "host", "busybox", "ls", "/sys/class/net").ok(t).stdout)
	// Interfaces come and go (other containers' veths); those that are
	// there before and after the run must be in the container's list.
	before, _ := os.ReadDir("/sys/class/net")
	for _, en := range before {
		if _, err := os.Stat(filepath.Join("/sys/class/net", en.Name())); err == nil && !strings.HasPrefix(en.Name(), "pcrv") && !strings.HasPrefix(en.Name(), "veth") {
			if !slices.Contains(got, en.Name()) {
				t.Errorf("--net host: %s missing from the container's %v", en.Name(), got)
			}
		}
	}
	if len(got) < 2 {
		t.Errorf("--net host sees only %v", got)
	}
}

func TestNetworkParallelStartsGetDistinctAddresses(t *testing.T) {
	e := newNetEnv(t)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.pcr("run", "-d", "busybox", "sleep", "60")
			if r.code != 0 {
				t.Errorf("run %d: exit %d: %s", i, r.code, r.stderr)
				return
			}
			ids[i] = strings.TrimSpace(r.stdout)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[string]string{}
	for _, id := range ids {
		ip := e.inspectNet(id).NetworkSettings.IPAddress
		if ip == "" {
			t.Errorf("%s has no address", id[:12])
		} else if other, dup := seen[ip]; dup {
			t.Errorf("%s and %s both have %s", other[:12], id[:12], ip)
		}
		seen[ip] = id
	}
	e.rememberIDs()
	e.pcr(append([]string{"rm", "-f"}, ids...)...).ok(t)
	e.checkNoNetLeaks()
}

func TestNetworkBadInput(t *testing.T) {
	e := newNetEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-p", "80:abc", "busybox", "true"}, "abc"},
		{[]string{"run", "-p", "1:2:3:4", "busybox", "true"}, "1:2:3:4"},
		{[]string{"run", "--net", "no-such-net", "busybox", "true"}, "no-such-net"},
		{[]string{"create", "--net", "no-such-net", "busybox", "true"}, "no-such-net"},
		{[]string{"run", "--net", "none", "-p", "80", "busybox", "true"}, "publish"},
		{[]string{"run", "--add-host", "nocolon", "busybox", "true"}, "add-host"},
		{[]string{"run", "--net", "container:nobody", "busybox", "true"}, "nobody"},
	} {
		r := e.pcr(c.args...)
		if r.code != 125 {
			t.Errorf("pcr %s: exit %d, want 125 (stderr %q)", strings.Join(c.args, " "), r.code, r.stderr)
			continue
		}
		r.fails(t, c.want)
		if len(e.containerIDs()) > 0 {
			t.Errorf("pcr %s left a container", strings.Join(c.args, " "))
		}
	}
	n := e.network("10.231.7.0/24")
	r := e.pcr("network", "create", "--subnet", "10.231.7.128/25", "overlap-"+n)
	if r.code != 125 {
		t.Fatalf("an overlapping subnet: exit %d", r.code)
	}
	r.fails(t, "10.231.7")
	if ls := e.pcr("network", "ls", "-q").ok(t).stdout; strings.Contains(ls, "overlap-"+n) {
		e.networks = append(e.networks, "overlap-"+n)
		t.Errorf("the refused network is listed:\n%s", ls)
	}
	e.pcr("network", "create", "--subnet", "not-a-cidr", "bad").fails(t, "not-a-cidr")
	e.pcr("network", "rm", "pcr").fails(t, "pcr")
}

// A pcr run killed while the container runs leaves veth, lease, rules
// and netns mount to the rm -f that follows.
func TestNetworkKilledRunLeavesNothingAfterRm(t *testing.T) {
	e := newNetEnv(t)
	port := strconv.Itoa(freePort(t))
	cmd := e.command("run", "--name", "killed", "-p", port+":80", "busybox", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for e.pcr("inspect", "killed").code != 0 || e.inspectNet("killed").NetworkSettings.IPAddress == "" {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the container never got an address")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	e.rememberIDs()
	e.pcr("rm", "-f", "killed").ok(t)
	e.checkNoNetLeaks()
}

// The done criterion: php's built-in server in debian-php,
// published and fetched from the host.
func TestNetworkDebianPHPPublished(t *testing.T) {
	e := newNetEnv(t)
	archive := filepath.Join(fixtures, "debian-php.tar")
	if _, err := os.Stat(archive); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("debian-php fixture missing under CI=true (make fixtures): %v", err)
		}
		t.Skipf("debian-php fixture missing (make fixtures): %v", err)
	}
	runPCR(t, 120*time.Second, nil, []string{"--root", e.root, "--state", e.state}, []string{"load", "-q", "-i", archive}).ok(t)
	port := strconv.Itoa(freePort(t))
	e.pcr("run", "-d", "--name", "web", "-p", port+":80", "debian-php", "php", "-S", "0.0.0.0:80", "-t", "/tmp").ok(t)
	// /tmp has no index: php's server answers 404 with its own page.
	code, body := httpGet(t, "http://127.0.0.1:"+port+"/")
	if code != 404 && code != 200 || body == "" {
		t.Errorf("GET 127.0.0.1:%s: %d %q", port, code, body)
	}
	e.rememberIDs()
	e.pcr("rm", "-f", "web").ok(t)
	e.checkNoNetLeaks()
}
