package runtime

// The records the runtime keeps and passes, in JSON without encoding/json
// (see package jsonlite for why): state.json, the sync messages and the
// init's config. recordjson_test.go checks each against encoding/json.

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
)

// rawJSON is a JSON value kept as bytes; encoding/json, where it still
// handles one (tests, other tools), writes and reads it as is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r *rawJSON) UnmarshalJSON(data []byte) error {
	*r = append((*r)[:0], data...)
	return nil
}

// encode is s as state.json: what json.Marshal(s) gives, field for field.
func (s *State) encode() ([]byte, error) {
	created, err := s.Created.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b := append(make([]byte, 0, 512+len(s.Config)), '{')
	b = jsonlite.String(b, "ociVersion", s.OCIVersion)
	b = jsonlite.String(b, "id", s.ID)
	b = jsonlite.String(b, "bundle", s.Bundle)
	b = jsonlite.String(b, "rootfs", s.Rootfs)
	b = jsonlite.Int(b, "pid", int64(s.Pid))
	b = jsonlite.Uint(b, "pidStart", s.PidStart)
	b = jsonlite.Raw(b, "created", created)
	b = jsonlite.String(b, "owner", s.Owner)
	if len(s.Annotations) > 0 {
		b = jsonlite.AppendStringMap(jsonlite.Key(b, "annotations"), s.Annotations)
	}
	b = appendCgroupState(jsonlite.Key(b, "cgroup"), s.Cgroup)
	b = jsonlite.Bool(b, "ownPidNS", s.OwnPidNS)
	b = jsonlite.Raw(b, "config", s.Config)
	return append(b, '}'), nil
}

func appendCgroupState(b []byte, st cgroup.State) []byte {
	b = append(b, '{')
	b = jsonlite.String(b, "version", st.Version)
	b = jsonlite.AppendStringMap(jsonlite.Key(b, "paths"), st.Paths)
	if len(st.Created) > 0 {
		b = jsonlite.AppendStrings(jsonlite.Key(b, "created"), st.Created)
	}
	return append(b, '}')
}

// decodeState reads a state.json written by encode (or, before it, by
// encoding/json).
func decodeState(data []byte) (*State, error) {
	members, config, err := jsonlite.ParseObjectRaw(data, "config")
	if err != nil {
		return nil, err
	}
	d := &jsonDecoder{}
	o := jsonObject{d: d, m: members, path: "state"}
	st := &State{OCIVersion: o.str("ociVersion"), ID: o.str("id"), Bundle: o.str("bundle"), Rootfs: o.str("rootfs"),
		Pid: int(o.signed("pid", strconv.IntSize)), PidStart: o.unsigned("pidStart", 64), Owner: o.str("owner"),
		Annotations: o.strMap("annotations"), OwnPidNS: o.boolean("ownPidNS"), Config: config}
	if c := o.str("created"); c != "" {
		if st.Created, err = parseTimestamp(c); err != nil {
			return nil, fmtlite.Errorf("state.created: %w", err)
		}
	}
	if cg, ok := o.obj("cgroup"); ok {
		st.Cgroup = cgroup.State{Version: cg.str("version"), Paths: cg.strMap("paths"), Created: cg.strs("created")}
	}
	return st, d.err
}

// encode is m as one sync packet (the fields json.Marshal would write).
func (m syncMsg) encode() []byte {
	b := append(make([]byte, 0, 64+len(m.Config)), '{')
	b = jsonlite.String(b, "type", m.Type)
	if m.Error != "" {
		b = jsonlite.String(b, "error", m.Error)
	}
	if m.ExecFailed != "" {
		b = jsonlite.String(b, "execFailed", m.ExecFailed)
	}
	if m.Pid != 0 {
		b = jsonlite.Int(b, "pid", int64(m.Pid))
	}
	if len(m.Config) > 0 {
		b = jsonlite.Raw(b, "config", m.Config)
	}
	return append(b, '}')
}

// decodeSyncMsg reads one sync packet: an object whose config member, if
// any, is kept as the bytes it was sent as.
func decodeSyncMsg(data []byte) (syncMsg, error) {
	members, config, err := jsonlite.ParseObjectRaw(data, "config")
	if err != nil {
		return syncMsg{}, err
	}
	d := &jsonDecoder{}
	o := jsonObject{d: d, m: members, path: "message"}
	m := syncMsg{Type: o.str("type"), Error: o.str("error"), ExecFailed: o.str("execFailed"),
		Pid: int(o.signed("pid", strconv.IntSize)), Config: config}
	return m, d.err
}

// encode is c as the Go init reads it.
func (c *initConfig) encode() []byte {
	b := append(make([]byte, 0, 4096), '{')
	if c.Exec {
		b = jsonlite.Bool(b, "exec", true)
	}
	b = jsonlite.String(b, "id", c.ID)
	b = jsonlite.String(b, "bundle", c.Bundle)
	b = jsonlite.Key(b, "spec")
	if c.Spec == nil {
		b = append(b, "null"...)
	} else {
		b = appendSpecsSpec(b, c.Spec)
	}
	b = jsonlite.String(b, "rootfs", c.Rootfs)
	for _, f := range []struct {
		key string
		set bool
	}{{"noPivot", c.NoPivot}, {"userNS", c.UserNS}, {"newCgroupNS", c.NewCgroup}, {"cgroupV2", c.CgroupV2}} {
		if f.set {
			b = jsonlite.Bool(b, f.key, true)
		}
	}
	if len(c.CgroupDirs) > 0 {
		b = jsonlite.AppendStringMap(jsonlite.Key(b, "cgroupDirs"), c.CgroupDirs)
	}
	if c.TraceStart != 0 {
		b = jsonlite.Int(b, "traceStart", c.TraceStart)
	}
	if c.PreserveFDs != 0 {
		b = jsonlite.Int(b, "preserveFDs", int64(c.PreserveFDs))
	}
	if len(c.Annotations) > 0 {
		b = jsonlite.AppendStringMap(jsonlite.Key(b, "annotations"), c.Annotations)
	}
	return append(b, '}')
}

func decodeInitConfig(data []byte) (*initConfig, error) {
	members, spec, err := jsonlite.ParseObjectRaw(data, "spec")
	if err != nil {
		return nil, err
	}
	d := &jsonDecoder{}
	o := jsonObject{d: d, m: members, path: "init config"}
	c := &initConfig{Exec: o.boolean("exec"), ID: o.str("id"), Bundle: o.str("bundle"), Rootfs: o.str("rootfs"),
		NoPivot: o.boolean("noPivot"), UserNS: o.boolean("userNS"), NewCgroup: o.boolean("newCgroupNS"),
		CgroupV2: o.boolean("cgroupV2"), CgroupDirs: o.strMap("cgroupDirs"), TraceStart: o.signed("traceStart", 64),
		PreserveFDs: int(o.signed("preserveFDs", strconv.IntSize)), Annotations: o.strMap("annotations")}
	if d.err != nil {
		return nil, d.err
	}
	if spec != nil {
		if c.Spec, err = decodeSpec(spec); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// encodeSpec is spec as JSON, as json.Marshal writes it (less other
// platforms' sections).
func encodeSpec(spec *specs.Spec) []byte {
	return appendSpecsSpec(make([]byte, 0, 4096), spec)
}

// SpecJSON is spec as config.json holds it (compact; jsonlite.Indent lays
// it out).
func SpecJSON(spec *specs.Spec) []byte { return encodeSpec(spec) }

// FeaturesJSON is f as `features` prints it (compact).
func FeaturesJSON(f *features.Features) []byte { return appendFeaturesFeatures(nil, f) }

// DecodeProcess reads a process.json (`exec --process`): the process
// object of a spec, decoded as decodeSpec decodes config.process.
func DecodeProcess(data []byte) (*specs.Process, error) {
	o, err := decodeTop(data, "process")
	if err != nil {
		return nil, err
	}
	p := decodeProcess(o)
	return p, o.d.err
}
