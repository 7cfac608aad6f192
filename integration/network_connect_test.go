package integration

import (
	"net"
	"strings"
	"testing"
)

// -P publishes every port the image EXPOSEs on a free host port.
func TestNetworkPublishAllExposed(t *testing.T) {
	e := newNetEnv(t)
	base := strings.TrimSpace(e.pcr("create", "busybox", "true").ok(t).stdout)
	e.pcr("commit", "-c", "EXPOSE 80", base, "exposing").ok(t)
	e.pcr("rm", base).ok(t)
	e.pcr("run", "-d", "--name", "pall", "-P", "exposing", "sh", "-c",
		"mkdir -p /www && echo hello-exposed > /www/index.html && exec httpd -f -p 80 -h /www").ok(t)
	out := strings.TrimSpace(e.pcr("port", "pall", "80/tcp").ok(t).stdout)
	_, port, err := net.SplitHostPort(out)
	if err != nil || port == "0" {
		t.Fatalf("pcr port pall 80/tcp = %q", out)
	}
	if code, body := httpGet(t, "http://127.0.0.1:"+port+"/"); code != 200 || !strings.Contains(body, "hello-exposed") {
		t.Errorf("GET 127.0.0.1:%s: %d %q", port, code, body)
	}
	e.pcr("rm", "-f", "pall").ok(t)
	e.pcr("rmi", "exposing").ok(t)
}

// network connect gives a running container a second network (reachable
// there by name); disconnect takes it away again.
func TestNetworkConnectDisconnect(t *testing.T) {
	e := newNetEnv(t)
	n := e.network("")
	srv := e.httpServer("conn-srv", "hello-connected")
	if _, ok := srv.NetworkSettings.Networks[n]; ok {
		t.Fatalf("server is on %s before connect", n)
	}
	e.pcr("network", "connect", n, "conn-srv").ok(t)
	if _, ok := e.inspectNet("conn-srv").NetworkSettings.Networks[n]; !ok {
		t.Fatalf("inspect does not show %s after connect", n)
	}
	r := e.pcr("run", "--rm", "--net", n, "busybox", "sh", "-c", fetchScript("http://conn-srv/")).ok(t)
	if !strings.Contains(r.stdout, "hello-connected") {
		t.Errorf("client on %s got %q", n, r.stdout)
	}
	e.pcr("network", "disconnect", n, "conn-srv").ok(t)
	if _, ok := e.inspectNet("conn-srv").NetworkSettings.Networks[n]; ok {
		t.Errorf("inspect still shows %s after disconnect", n)
	}
	r = e.pcr("run", "--rm", "--net", n, "busybox", "sh", "-c", "timeout 2 wget -q -O - http://conn-srv/; exit $?")
	if r.code == 0 {
		t.Errorf("conn-srv still reachable on %s after disconnect: %q", n, r.stdout)
	}
	// Its first network is untouched.
	r = e.pcr("run", "--rm", "busybox", "sh", "-c", fetchScript("http://"+srv.NetworkSettings.IPAddress+"/")).ok(t)
	if !strings.Contains(r.stdout, "hello-connected") {
		t.Errorf("after disconnect, the server on pcr answered %q", r.stdout)
	}
}
