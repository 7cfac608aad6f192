package runtime

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The sections decodeSpec leaves out on purpose: other platforms' parts.
var specSectionsSkipped = map[string]bool{"Solaris": true, "Windows": true, "VM": true, "ZOS": true, "FreeBSD": true}

// fillValue sets every field reachable from v to a value of its own, so that
// a field decodeSpec forgets comes back zero and the comparison names it.
// Integers get large values (past 2^53 for 64 bits: float64 would round them).
func fillValue(v reflect.Value, n *int, top bool) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(v.Elem(), n, false)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if top && specSectionsSkipped[v.Type().Field(i).Name] {
				continue
			}
			fillValue(v.Field(i), n, false)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fillValue(v.Index(0), n, false)
		fillValue(v.Index(1), n, false)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fillValue(k, n, false)
			e := reflect.New(v.Type().Elem()).Elem()
			fillValue(e, n, false)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", *n%7) + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		v.SetInt(-(int64(1)<<(bits-2) + int64(*n)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		v.SetUint(uint64(1)<<(bits-1) + uint64(*n))
	default:
		panic("fillValue: no value for " + v.Type().String())
	}
}

func TestDecodeSpecEveryField(t *testing.T) {
	var full specs.Spec
	n := 0
	fillValue(reflect.ValueOf(&full).Elem(), &n, true)
	data, err := json.Marshal(&full)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSpec(data)
	if err != nil {
		t.Fatal(err)
	}
	var want specs.Spec
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &want) || !reflect.DeepEqual(got, &full) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(&want, "", " ")
		gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("decodeSpec differs from encoding/json at line %d:\n got: %s\nwant: %s", i, gl[i], wl[i])
			}
		}
		t.Fatalf("decodeSpec differs from encoding/json:\n got: %s\nwant: %s", g, w)
	}
}

// The specs pcr itself writes and the shapes users write by hand decode
// as encoding/json decodes them: nulls, empty arrays, absent sections.
func TestDecodeSpecMatchesEncodingJSON(t *testing.T) {
	def, err := json.Marshal(DefaultSpec(false))
	if err != nil {
		t.Fatal(err)
	}
	rootless, _ := json.Marshal(DefaultSpec(true))
	for _, data := range []string{
		string(def), string(rootless),
		`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"},"linux":{}}`,
		`{"ociVersion":"1.0.2","process":null,"root":null,"mounts":[],"hooks":{"poststop":[{"path":"/bin/true","timeout":5}]},"linux":{"resources":{"memory":{"limit":-1,"swap":null}}}}`,
		`{"ociVersion":"1.0.2","process":{"args":["a",null],"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":1024}]},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}}}`,
		`{"ociVersion":"1.0.2","unknown":{"deep":[1,2,{"x":null}]},"windows":{"layerFolders":["c:"]},"annotations":{"a":"b"},"linux":{"sysctl":{},"namespaces":[{"type":"pid"},null]}}`,
		`{"ociVersion":"1.0.2","linux":{"timeOffsets":{},"netDevices":{"eth0":null},"resources":{"rdma":{},"devices":[],"hugepageLimits":[]},"seccomp":{"architectures":[],"syscalls":[{"names":[],"args":[]}]}},"process":{"scheduler":{"flags":[]},"user":{"additionalGids":[]}}}`,
	} {
		got, err := decodeSpec([]byte(data))
		if err != nil {
			t.Fatalf("decodeSpec(%s): %v", data, err)
		}
		var want specs.Spec
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatal(err)
		}
		want.Windows = nil
		if !reflect.DeepEqual(got, &want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(&want)
			t.Errorf("decodeSpec(%s):\n got %s\nwant %s", data, g, w)
		}
	}
}

func TestDecodeSpecErrors(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{`{"process":{"args":"sh"}}`, "config.process.args: an array expected, got a string"},
		{`{"process":{"args":["sh",1]}}`, "config.process.args[1]: a string expected, got the number 1"},
		{`{"process":{"user":{"uid":-1}}}`, "config.process.user.uid: an unsigned integer of 32 bits expected, got the number -1"},
		{`{"process":{"user":{"uid":4294967296}}}`, "config.process.user.uid: an unsigned integer of 32 bits expected"},
		{`{"process":{"terminal":"yes"}}`, "config.process.terminal: a boolean expected, got a string"},
		{`{"linux":{"resources":{"memory":{"limit":1.5}}}}`, "config.linux.resources.memory.limit: an integer of 64 bits expected, got the number 1.5"},
		{`{"linux":{"resources":{"memory":{"limit":1e9}}}}`, "got the number 1e9"},
		{`{"linux":{"namespaces":["pid"]}}`, "config.linux.namespaces[0]: an object expected, got a string"},
		{`{"linux":{"timeOffsets":{"monotonic":3}}}`, "config.linux.timeOffsets.monotonic: an object expected"},
		{`{"mounts":{}}`, "config.mounts: an array expected, got an object"},
		{`[]`, "config: an object expected, got an array"},
		{`null`, "config: an object expected, got null"},
		{`{"ociVersion":"1.0.2"} x`, "invalid JSON at offset 23: data after the top-level value"},
		{`{"ociVersion":"1.0.2"} {}`, "data after the top-level value"},
		{`{"ociVersion":`, "invalid JSON at offset 14: unexpected end of input looking for a value"},
		{`{"ociVersion":"1.0.2",}`, "invalid JSON at offset 22: unexpected '}' looking for an object key"},
	} {
		_, err := decodeSpec([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decodeSpec(%s) = %v, want an error containing %q", c.data, err, c.want)
		}
	}
}

// A record keeps the config as the bundle had it, and Load's State decodes
// it on demand; a change re-encodes it.
func TestStateRecordsConfigBytes(t *testing.T) {
	r := &Runtime{Root: t.TempDir()}
	dir := r.dir("c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"}]},"x-unknown":1}`)
	st := &State{ID: "c1", dir: dir, Config: raw}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	got, err := r.Load("c1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Config) != string(raw) {
		t.Fatalf("recorded config %s, want the bundle's bytes %s", got.Config, raw)
	}
	spec, err := got.Spec()
	if err != nil || spec == nil || spec.Process.Args[0] != "sh" || spec.Linux.Namespaces[0].Type != specs.MountNamespace {
		t.Fatalf("Spec() = %+v, %v", spec, err)
	}
	spec.Hostname = "changed"
	if err := got.setSpec(spec); err != nil {
		t.Fatal(err)
	}
	if err := got.save(); err != nil {
		t.Fatal(err)
	}
	again, _ := r.Load("c1")
	if spec, err := again.Spec(); err != nil || spec.Hostname != "changed" {
		t.Fatalf("after setSpec, Spec() = %+v, %v", spec, err)
	}
	// A record without a config (a create killed before its first save
	// has none) is nil, not an error; a corrupt one is an error.
	for _, c := range []struct {
		config  string
		wantErr bool
	}{{"", false}, {"null", false}, {`{"process":7}`, true}} {
		st := &State{ID: "c2", Config: rawJSON(c.config)}
		spec, err := st.Spec()
		if (err != nil) != c.wantErr || (err == nil && spec != nil) {
			t.Errorf("Spec() of config %q = %v, %v", c.config, spec, err)
		}
	}
}
