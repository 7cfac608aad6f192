package runtime

import (
	"encoding/json"
	"os"
	"os/user"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/cgroup"
)

var awkwardStrings = []string{"nl\n cr\r tab\t nul\x00 del\x7f esc\x1b", "bad \xff byte", `quote " and \ backslash`}

// state.json written by hand reads back as the record json.Marshal writes.
func TestStateEncodeMatchesEncodingJSON(t *testing.T) {
	created := time.Date(2026, 12, 7, 22, 1, 2, 345678901, time.FixedZone("x", 3600))
	for _, st := range []*State{
		{},
		{OCIVersion: "1.0.2", ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42, PidStart: 1 << 40,
			Created: created, Owner: "root", OwnPidNS: true,
			Annotations: map[string]string{"z": "last", "a": awkwardStrings[0], "m": awkwardStrings[1]},
			Cgroup: cgroup.State{Version: "hybrid", Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/pcr/c1", "": "/u"},
				Created: []string{"/sys/fs/cgroup/memory/pcr", "/sys/fs/cgroup/memory/pcr/c1"}},
			Config: rawJSON(`{"ociVersion": "1.0.2",
 "process": {"args": ["true"]}}`)},
		{ID: "no-paths", Cgroup: cgroup.State{Version: "v2"}, Config: rawJSON(`null`)},
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
		{Type: msgError, Error: "exec \"/bin/nope\": " + awkwardStrings[0], ExecFailed: "not-found"},
		{Type: msgConfig, Config: rawJSON(`{"id":"c1","spec":{"process":{"args":["sh"]}}}`)},
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
		{`{"type":"ready"}{}`, "data after the top-level value"},
		{``, "looking for an object"},
	} {
		_, err := decodeSyncMsg([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decodeSyncMsg(%s) = %v, want an error with %q", c.data, err, c.want)
		}
	}
}

// state.json as encoding/json wrote it before (older pcr) and as encode
// writes it now read back the same.
func TestDecodeStateReadsBothWriters(t *testing.T) {
	st := &State{OCIVersion: "1.0.2", ID: "c1", Bundle: "/b", Pid: 42, PidStart: 1<<63 + 5,
		Created: time.Date(2026, 12, 7, 22, 1, 2, 345678901, time.UTC), Owner: "root", OwnPidNS: true,
		Annotations: map[string]string{"a": "b"},
		Cgroup:      cgroup.State{Version: "v2", Paths: map[string]string{"": "/sys/fs/cgroup/pcr/c1"}, Created: []string{"/sys/fs/cgroup/pcr/c1"}},
		Config:      rawJSON(`{"ociVersion":"1.0.2"}`)}
	std, _ := json.Marshal(st)
	mine, _ := st.encode()
	for _, data := range [][]byte{std, mine} {
		got, err := decodeState(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !got.Created.Equal(st.Created) {
			t.Errorf("created %v, want %v", got.Created, st.Created)
		}
		got.Created = st.Created
		if !reflect.DeepEqual(got, st) {
			t.Errorf("%s read back as %+v", data, got)
		}
	}
	if _, err := decodeState([]byte(`{"id":"c1","pid":"x"}`)); err == nil || !strings.Contains(err.Error(), "state.pid") {
		t.Errorf("a bad pid reads as %v", err)
	}
}

func TestInitConfigRoundTrip(t *testing.T) {
	c := &initConfig{Exec: true, ID: "c1", Bundle: "/b", Spec: DefaultSpec(false), Rootfs: "/b/rootfs", NoPivot: true,
		UserNS: true, NewCgroup: true, CgroupV2: true, CgroupDirs: map[string]string{"memory": "/m"}, TraceStart: 1 << 62,
		PreserveFDs: 3, Annotations: map[string]string{"k": "v"}}
	got, err := decodeInitConfig(c.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("init config read back as %+v", got)
	}
	if got, err := decodeInitConfig((&initConfig{ID: "c2"}).encode()); err != nil || got.ID != "c2" || got.Spec != nil {
		t.Errorf("a config without a spec reads as %+v, %v", got, err)
	}
}

func TestDecodeProcessAsEncodingJSON(t *testing.T) {
	data, _ := json.Marshal(DefaultSpec(false).Process)
	got, err := DecodeProcess(data)
	if err != nil {
		t.Fatal(err)
	}
	var want specs.Process
	json.Unmarshal(data, &want)
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("DecodeProcess(%s) = %+v", data, got)
	}
	for _, c := range []struct{ data, want string }{
		{`{"args":"sh"}`, "process.args: an array expected, got a string"},
		{`null`, "process: an object expected, got null"},
		{`{"args":["sh"]`, "invalid JSON"},
	} {
		if _, err := DecodeProcess([]byte(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeProcess(%s) = %v, want %q", c.data, err, c.want)
		}
	}
}

// The owner is looked up when shown, from the state directory's owner.
func TestOwnerNameFromTheStateDir(t *testing.T) {
	st := &State{dir: t.TempDir()}
	want := strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(want); err == nil {
		want = u.Username
	}
	if got := st.OwnerName(); got != want {
		t.Errorf("OwnerName() = %q, want %q", got, want)
	}
	if got := (&State{Owner: "alice"}).OwnerName(); got != "alice" {
		t.Errorf("a recorded owner reads as %q", got)
	}
}
