package runtime

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"pcr/cgroup"
)

var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "nl\n cr\r tab\t nul\x00 del\x7f esc\x1b",
	"<html> & friends", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff byte", "cut \xe2\x82",
}

func TestAppendJSONStringDecodesAsWritten(t *testing.T) {
	for _, s := range awkwardStrings {
		enc := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("encoding of %q is not JSON: %s: %v", s, enc, err)
		}
		var want string
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &want)
		if got != want {
			t.Errorf("%q: encoded %s reads back %q, encoding/json's reads back %q", s, enc, got, want)
		}
	}
}

// state.json written by hand reads back as the record json.Marshal writes.
func TestStateEncodeMatchesEncodingJSON(t *testing.T) {
	created := time.Date(2026, 12, 7, 22, 1, 2, 345678901, time.FixedZone("x", 3600))
	for _, st := range []*State{
		{},
		{OCIVersion: "1.0.2", ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42, PidStart: 1 << 40,
			Created: created, Owner: "root", OwnPidNS: true,
			Annotations: map[string]string{"z": "last", "a": awkwardStrings[3], "m": awkwardStrings[6]},
			Cgroup: cgroup.State{Version: "hybrid", Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/pcr/c1", "": "/u"},
				Created: []string{"/sys/fs/cgroup/memory/pcr", "/sys/fs/cgroup/memory/pcr/c1"}},
			Config: json.RawMessage(`{"ociVersion": "1.0.2",
 "process": {"args": ["true"]}}`)},
		{ID: "no-paths", Cgroup: cgroup.State{Version: "v2"}, Config: json.RawMessage(`null`)},
	} {
		mine, err := st.encode()
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var a, b State
		if err := json.Unmarshal(mine, &a); err != nil {
			t.Fatalf("state %q encodes as invalid JSON: %v\n%s", st.ID, err, mine)
		}
		json.Unmarshal(std, &b)
		// RawMessage keeps bytes: compare the configs by meaning.
		var ca, cb any
		json.Unmarshal(a.Config, &ca)
		json.Unmarshal(b.Config, &cb)
		a.Config, b.Config = nil, nil
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ca, cb) {
			t.Errorf("state %q:\nhand-written %s\nencoding/json %s", st.ID, mine, std)
		}
		var ma, mb map[string]any
		json.Unmarshal(mine, &ma)
		json.Unmarshal(std, &mb)
		if len(ma) != len(mb) {
			t.Errorf("state %q: hand-written has members %v, encoding/json %v", st.ID, keysOf(ma), keysOf(mb))
		}
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestSyncMsgRoundTrip(t *testing.T) {
	for _, m := range []syncMsg{
		{Type: msgReady},
		{Type: msgPid, Pid: 12345},
		{Type: msgError, Error: "exec \"/bin/nope\": " + awkwardStrings[3], ExecFailed: "not-found"},
		{Type: msgConfig, Config: json.RawMessage(`{"id":"c1","spec":{"process":{"args":["sh"]}}}`)},
	} {
		data := m.encode()
		got, err := decodeSyncMsg(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %s gives %#v", data, got)
		}
		var std syncMsg
		if err := json.Unmarshal(data, &std); err != nil || !reflect.DeepEqual(std, m) {
			t.Errorf("encoding/json reads %s as %#v (%v)", data, std, err)
		}
	}
}

// What the C init writes (fastinit.c) and what must be refused.
func TestDecodeSyncMsgFromTheCInit(t *testing.T) {
	m, err := decodeSyncMsg([]byte(`{"type":"fallback","error":"mount \"proc\": \u0045PERM"} `))
	if err != nil || m.Type != msgFallback || m.Error != `mount "proc": EPERM` {
		t.Errorf("fallback message read as %#v, %v", m, err)
	}
	m, err = decodeSyncMsg([]byte(`{"type":"pid","pid":7,"config":null,"extra":[1,{}]}`))
	if err != nil || m.Type != msgPid || m.Pid != 7 || m.Config != nil {
		t.Errorf("pid message read as %#v, %v", m, err)
	}
	for _, c := range []struct{ data, want string }{
		{`{"type":"pid","pid":"7"}`, "message.pid: an integer expected, got a string"},
		{`{"type":1}`, "message.type: a string expected"},
		{`["pid"]`, "looking for an object"},
		{`{"type":"ready"`, "unexpected end of input after an object value"},
		{`{"type":"ready"}{}`, "data after the message"},
		{``, "looking for an object"},
	} {
		_, err := decodeSyncMsg([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decodeSyncMsg(%s) = %v, want an error with %q", c.data, err, c.want)
		}
	}
}
