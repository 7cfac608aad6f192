package runtime

// decodeSpec reads a config.json without encoding/json's struct decoding.
// Decoding into a struct makes encoding/json compute, once per process,
// the fields and the encoder of every type reachable from it: for
// specs.Spec that is some 150 types (Windows, VM, FreeBSD and the rest)
// and 400 KB of pcr-oci run's 4 MiB peak RSS, for a spec of a few KB.
// Here jsonlite.Parse reads it into maps and slices, numbers
// kept exact as written, and the fields are picked out by name.
//
// It decodes what a Linux runtime uses: the top level, process, root,
// mounts, hooks, annotations and linux. The solaris, windows, vm, zos
// and freebsd sections are skipped; they stay in the recorded config.
// Keys match exactly, as crun's parser does (encoding/json also takes
// them in another case). specjson_test.go checks, field by field, that
// the result equals encoding/json's.

import (
	"errors"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
)

// decodeTop parses data, which must hold an object, named path in errors.
func decodeTop(data []byte, path string) (jsonObject, error) {
	v, err := jsonlite.Parse(data)
	if err != nil {
		return jsonObject{}, err
	}
	d := &jsonDecoder{}
	o, ok := d.object(v, path)
	if !ok {
		if d.err == nil {
			d.err = errors.New(path + ": an object expected, got null")
		}
		return jsonObject{}, d.err
	}
	return o, nil
}

func decodeSpec(data []byte) (*specs.Spec, error) {
	top, err := decodeTop(data, "config")
	if err != nil {
		return nil, err
	}
	d := top.d
	s := &specs.Spec{
		Version:     top.str("ociVersion"),
		Hostname:    top.str("hostname"),
		Domainname:  top.str("domainname"),
		Annotations: top.strMap("annotations"),
	}
	if o, ok := top.obj("process"); ok {
		s.Process = decodeProcess(o)
	}
	if o, ok := top.obj("root"); ok {
		s.Root = &specs.Root{Path: o.str("path"), Readonly: o.boolean("readonly")}
	}
	if ms := top.objects("mounts"); ms != nil {
		s.Mounts = make([]specs.Mount, len(ms))
		for i, o := range ms {
			s.Mounts[i] = specs.Mount{
				Destination: o.str("destination"), Type: o.str("type"), Source: o.str("source"),
				Options: o.strs("options"), UIDMappings: idMappings(o, "uidMappings"), GIDMappings: idMappings(o, "gidMappings"),
			}
		}
	}
	if o, ok := top.obj("hooks"); ok {
		s.Hooks = &specs.Hooks{
			Prestart: hookList(o, "prestart"), CreateRuntime: hookList(o, "createRuntime"),
			CreateContainer: hookList(o, "createContainer"), StartContainer: hookList(o, "startContainer"),
			Poststart: hookList(o, "poststart"), Poststop: hookList(o, "poststop"),
		}
	}
	if o, ok := top.obj("linux"); ok {
		s.Linux = decodeLinux(o)
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func decodeProcess(o jsonObject) *specs.Process {
	p := &specs.Process{
		Terminal: o.boolean("terminal"), Args: o.strs("args"), CommandLine: o.str("commandLine"),
		Env: o.strs("env"), Cwd: o.str("cwd"), NoNewPrivileges: o.boolean("noNewPrivileges"),
		ApparmorProfile: o.str("apparmorProfile"), SelinuxLabel: o.str("selinuxLabel"),
	}
	if b, ok := o.obj("consoleSize"); ok {
		p.ConsoleSize = &specs.Box{Height: uint(b.unsigned("height", 64)), Width: uint(b.unsigned("width", 64))}
	}
	if u, ok := o.obj("user"); ok {
		p.User = specs.User{UID: uint32(u.unsigned("uid", 32)), GID: uint32(u.unsigned("gid", 32)), Username: u.str("username")}
		if v, ok := u.unsignedPtr("umask", 32); ok {
			m := uint32(v)
			p.User.Umask = &m
		}
		p.User.AdditionalGids = u.uint32s("additionalGids")
	}
	if c, ok := o.obj("capabilities"); ok {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding: c.strs("bounding"), Effective: c.strs("effective"), Inheritable: c.strs("inheritable"),
			Permitted: c.strs("permitted"), Ambient: c.strs("ambient"),
		}
	}
	if rs := o.objects("rlimits"); rs != nil {
		p.Rlimits = make([]specs.POSIXRlimit, len(rs))
		for i, r := range rs {
			p.Rlimits[i] = specs.POSIXRlimit{Type: r.str("type"), Hard: r.unsigned("hard", 64), Soft: r.unsigned("soft", 64)}
		}
	}
	if v, ok := o.signedPtr("oomScoreAdj", strconv.IntSize); ok {
		n := int(v)
		p.OOMScoreAdj = &n
	}
	if s, ok := o.obj("scheduler"); ok {
		p.Scheduler = &specs.Scheduler{
			Policy: specs.LinuxSchedulerPolicy(s.str("policy")), Nice: int32(s.signed("nice", 32)),
			Priority: int32(s.signed("priority", 32)), Runtime: s.unsigned("runtime", 64),
			Deadline: s.unsigned("deadline", 64), Period: s.unsigned("period", 64),
		}
		if fs := s.strs("flags"); fs != nil {
			p.Scheduler.Flags = make([]specs.LinuxSchedulerFlag, len(fs))
			for i, f := range fs {
				p.Scheduler.Flags[i] = specs.LinuxSchedulerFlag(f)
			}
		}
	}
	if iop, ok := o.obj("ioPriority"); ok {
		p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPriorityClass(iop.str("class")), Priority: int(iop.signed("priority", strconv.IntSize))}
	}
	if a, ok := o.obj("execCPUAffinity"); ok {
		p.ExecCPUAffinity = &specs.CPUAffinity{Initial: a.str("initial"), Final: a.str("final")}
	}
	return p
}

func idMappings(o jsonObject, key string) []specs.LinuxIDMapping {
	ms := o.objects(key)
	if ms == nil {
		return nil
	}
	out := make([]specs.LinuxIDMapping, len(ms))
	for i, m := range ms {
		out[i] = specs.LinuxIDMapping{
			ContainerID: uint32(m.unsigned("containerID", 32)), HostID: uint32(m.unsigned("hostID", 32)), Size: uint32(m.unsigned("size", 32)),
		}
	}
	return out
}

func hookList(o jsonObject, key string) []specs.Hook {
	hs := o.objects(key)
	if hs == nil {
		return nil
	}
	out := make([]specs.Hook, len(hs))
	for i, h := range hs {
		out[i] = specs.Hook{Path: h.str("path"), Args: h.strs("args"), Env: h.strs("env")}
		if v, ok := h.signedPtr("timeout", strconv.IntSize); ok {
			n := int(v)
			out[i].Timeout = &n
		}
	}
	return out
}

func decodeLinux(o jsonObject) *specs.Linux {
	l := &specs.Linux{
		UIDMappings: idMappings(o, "uidMappings"), GIDMappings: idMappings(o, "gidMappings"),
		Sysctl: o.strMap("sysctl"), CgroupsPath: o.str("cgroupsPath"),
		RootfsPropagation: o.str("rootfsPropagation"), MaskedPaths: o.strs("maskedPaths"),
		ReadonlyPaths: o.strs("readonlyPaths"), MountLabel: o.str("mountLabel"),
	}
	if r, ok := o.obj("resources"); ok {
		l.Resources = decodeResources(r)
	}
	if ns := o.objects("namespaces"); ns != nil {
		l.Namespaces = make([]specs.LinuxNamespace, len(ns))
		for i, n := range ns {
			l.Namespaces[i] = specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n.str("type")), Path: n.str("path")}
		}
	}
	if ds := o.objects("devices"); ds != nil {
		l.Devices = make([]specs.LinuxDevice, len(ds))
		for i, d := range ds {
			l.Devices[i] = specs.LinuxDevice{Path: d.str("path"), Type: d.str("type"), Major: d.signed("major", 64), Minor: d.signed("minor", 64),
				UID: d.uint32Ptr("uid"), GID: d.uint32Ptr("gid")}
			if v, ok := d.unsignedPtr("fileMode", 32); ok {
				m := os.FileMode(v)
				l.Devices[i].FileMode = &m
			}
		}
	}
	if ds := o.members("netDevices"); ds != nil {
		l.NetDevices = make(map[string]specs.LinuxNetDevice, len(ds))
		for name, d := range ds {
			l.NetDevices[name] = specs.LinuxNetDevice{Name: d.str("name")}
		}
	}
	if s, ok := o.obj("seccomp"); ok {
		l.Seccomp = decodeSeccomp(s)
	}
	if r, ok := o.obj("intelRdt"); ok {
		l.IntelRdt = &specs.LinuxIntelRdt{ClosID: r.str("closID"), Schemata: r.strs("schemata"), L3CacheSchema: r.str("l3CacheSchema"),
			MemBwSchema: r.str("memBwSchema"), EnableMonitoring: r.boolean("enableMonitoring")}
	}
	if m, ok := o.obj("memoryPolicy"); ok {
		l.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(m.str("mode")), Nodes: m.str("nodes")}
		if fs := m.strs("flags"); fs != nil {
			l.MemoryPolicy.Flags = make([]specs.MemoryPolicyFlagType, len(fs))
			for i, f := range fs {
				l.MemoryPolicy.Flags[i] = specs.MemoryPolicyFlagType(f)
			}
		}
	}
	if p, ok := o.obj("personality"); ok {
		l.Personality = &specs.LinuxPersonality{Domain: specs.LinuxPersonalityDomain(p.str("domain"))}
		if fs := p.strs("flags"); fs != nil {
			l.Personality.Flags = make([]specs.LinuxPersonalityFlag, len(fs))
			for i, f := range fs {
				l.Personality.Flags[i] = specs.LinuxPersonalityFlag(f)
			}
		}
	}
	if ts := o.members("timeOffsets"); ts != nil {
		l.TimeOffsets = make(map[string]specs.LinuxTimeOffset, len(ts))
		for clock, t := range ts {
			l.TimeOffsets[clock] = specs.LinuxTimeOffset{Secs: t.signed("secs", 64), Nanosecs: uint32(t.unsigned("nanosecs", 32))}
		}
	}
	return l
}

func decodeResources(o jsonObject) *specs.LinuxResources {
	r := &specs.LinuxResources{Unified: o.strMap("unified")}
	if ds := o.objects("devices"); ds != nil {
		r.Devices = make([]specs.LinuxDeviceCgroup, len(ds))
		for i, d := range ds {
			r.Devices[i] = specs.LinuxDeviceCgroup{Allow: d.boolean("allow"), Type: d.str("type"),
				Major: d.int64Ptr("major"), Minor: d.int64Ptr("minor"), Access: d.str("access")}
		}
	}
	if m, ok := o.obj("memory"); ok {
		r.Memory = &specs.LinuxMemory{Limit: m.int64Ptr("limit"), Reservation: m.int64Ptr("reservation"), Swap: m.int64Ptr("swap"),
			Kernel: m.int64Ptr("kernel"), KernelTCP: m.int64Ptr("kernelTCP"), Swappiness: m.uint64Ptr("swappiness"),
			DisableOOMKiller: m.boolPtr("disableOOMKiller"), UseHierarchy: m.boolPtr("useHierarchy"),
			CheckBeforeUpdate: m.boolPtr("checkBeforeUpdate")}
	}
	if c, ok := o.obj("cpu"); ok {
		r.CPU = &specs.LinuxCPU{Shares: c.uint64Ptr("shares"), Quota: c.int64Ptr("quota"), Burst: c.uint64Ptr("burst"),
			Period: c.uint64Ptr("period"), RealtimeRuntime: c.int64Ptr("realtimeRuntime"), RealtimePeriod: c.uint64Ptr("realtimePeriod"),
			Cpus: c.str("cpus"), Mems: c.str("mems"), Idle: c.int64Ptr("idle")}
	}
	if p, ok := o.obj("pids"); ok {
		r.Pids = &specs.LinuxPids{Limit: p.int64Ptr("limit")}
	}
	if b, ok := o.obj("blockIO"); ok {
		r.BlockIO = &specs.LinuxBlockIO{Weight: b.uint16Ptr("weight"), LeafWeight: b.uint16Ptr("leafWeight"),
			ThrottleReadBpsDevice: throttles(b, "throttleReadBpsDevice"), ThrottleWriteBpsDevice: throttles(b, "throttleWriteBpsDevice"),
			ThrottleReadIOPSDevice: throttles(b, "throttleReadIOPSDevice"), ThrottleWriteIOPSDevice: throttles(b, "throttleWriteIOPSDevice")}
		if ws := b.objects("weightDevice"); ws != nil {
			r.BlockIO.WeightDevice = make([]specs.LinuxWeightDevice, len(ws))
			for i, w := range ws {
				wd := &r.BlockIO.WeightDevice[i]
				wd.Weight, wd.LeafWeight = w.uint16Ptr("weight"), w.uint16Ptr("leafWeight")
				wd.Major, wd.Minor = w.signed("major", 64), w.signed("minor", 64)
			}
		}
	}
	if hs := o.objects("hugepageLimits"); hs != nil {
		r.HugepageLimits = make([]specs.LinuxHugepageLimit, len(hs))
		for i, h := range hs {
			r.HugepageLimits[i] = specs.LinuxHugepageLimit{Pagesize: h.str("pageSize"), Limit: h.unsigned("limit", 64)}
		}
	}
	if n, ok := o.obj("network"); ok {
		r.Network = &specs.LinuxNetwork{ClassID: n.uint32Ptr("classID")}
		if ps := n.objects("priorities"); ps != nil {
			r.Network.Priorities = make([]specs.LinuxInterfacePriority, len(ps))
			for i, p := range ps {
				r.Network.Priorities[i] = specs.LinuxInterfacePriority{Name: p.str("name"), Priority: uint32(p.unsigned("priority", 32))}
			}
		}
	}
	if ds := o.members("rdma"); ds != nil {
		r.Rdma = make(map[string]specs.LinuxRdma, len(ds))
		for dev, d := range ds {
			r.Rdma[dev] = specs.LinuxRdma{HcaHandles: d.uint32Ptr("hcaHandles"), HcaObjects: d.uint32Ptr("hcaObjects")}
		}
	}
	return r
}

func throttles(o jsonObject, key string) []specs.LinuxThrottleDevice {
	ts := o.objects(key)
	if ts == nil {
		return nil
	}
	out := make([]specs.LinuxThrottleDevice, len(ts))
	for i, t := range ts {
		out[i].Rate = t.unsigned("rate", 64)
		out[i].Major, out[i].Minor = t.signed("major", 64), t.signed("minor", 64)
	}
	return out
}

func decodeSeccomp(o jsonObject) *specs.LinuxSeccomp {
	s := &specs.LinuxSeccomp{DefaultAction: specs.LinuxSeccompAction(o.str("defaultAction")), DefaultErrnoRet: o.uintPtr("defaultErrnoRet"),
		ListenerPath: o.str("listenerPath"), ListenerMetadata: o.str("listenerMetadata")}
	if as := o.strs("architectures"); as != nil {
		s.Architectures = make([]specs.Arch, len(as))
		for i, a := range as {
			s.Architectures[i] = specs.Arch(a)
		}
	}
	if fs := o.strs("flags"); fs != nil {
		s.Flags = make([]specs.LinuxSeccompFlag, len(fs))
		for i, f := range fs {
			s.Flags[i] = specs.LinuxSeccompFlag(f)
		}
	}
	if cs := o.objects("syscalls"); cs != nil {
		s.Syscalls = make([]specs.LinuxSyscall, len(cs))
		for i, c := range cs {
			sc := &s.Syscalls[i]
			sc.Names, sc.Action, sc.ErrnoRet = c.strs("names"), specs.LinuxSeccompAction(c.str("action")), c.uintPtr("errnoRet")
			if as := c.objects("args"); as != nil {
				sc.Args = make([]specs.LinuxSeccompArg, len(as))
				for j, a := range as {
					sc.Args[j] = specs.LinuxSeccompArg{Index: uint(a.unsigned("index", 64)), Value: a.unsigned("value", 64),
						ValueTwo: a.unsigned("valueTwo", 64), Op: specs.LinuxSeccompOperator(a.str("op"))}
				}
			}
		}
	}
	return s
}

// jsonDecoder keeps the first error; the getters return zero values after it.
type jsonDecoder struct{ err error }

func (d *jsonDecoder) fail(path, want string, v any) {
	if d.err != nil {
		return
	}
	got := "a number"
	switch v := v.(type) {
	case string:
		got = "a string"
	case bool:
		got = "a boolean"
	case []any:
		got = "an array"
	case map[string]any:
		got = "an object"
	case jsonlite.Number:
		got = "the number " + string(v)
	}
	d.err = fmtlite.Errorf("%s: %s expected, got %s", path, want, got)
}

// object is v as an object; false for null and for anything else (an error).
func (d *jsonDecoder) object(v any, path string) (jsonObject, bool) {
	if v == nil {
		return jsonObject{}, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "an object", v)
		return jsonObject{}, false
	}
	return jsonObject{d: d, m: m, path: path}, true
}

// jsonObject is one decoded object and where it sits, for errors. A key
// that is absent or null gives the zero value, as encoding/json leaves it.
type jsonObject struct {
	d    *jsonDecoder
	m    map[string]any
	path string
}

func (o jsonObject) at(key string) string { return o.path + "." + key }

func (o jsonObject) obj(key string) (jsonObject, bool) {
	return o.d.object(o.m[key], o.at(key))
}

func (o jsonObject) str(key string) string {
	v := o.m[key]
	s, ok := v.(string)
	if !ok && v != nil {
		o.d.fail(o.at(key), "a string", v)
	}
	return s
}

func (o jsonObject) boolean(key string) bool {
	p := o.boolPtr(key)
	return p != nil && *p
}

func (o jsonObject) boolPtr(key string) *bool {
	v := o.m[key]
	if v == nil {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		o.d.fail(o.at(key), "a boolean", v)
		return nil
	}
	return &b
}

// list is the array under key; nil when absent, null or not an array (an error).
func (o jsonObject) list(key string) []any {
	v := o.m[key]
	if v == nil {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		o.d.fail(o.at(key), "an array", v)
	}
	return a
}

func (o jsonObject) strs(key string) []string {
	a := o.list(key)
	if a == nil {
		return nil
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok && e != nil {
			o.d.fail(o.at(key)+"["+strconv.Itoa(i)+"]", "a string", e)
		}
		out[i] = s
	}
	return out
}

func (o jsonObject) uint32s(key string) []uint32 {
	a := o.list(key)
	if a == nil {
		return nil
	}
	out := make([]uint32, len(a))
	for i, e := range a {
		if e != nil {
			n, _ := o.d.number(e, o.at(key)+"["+strconv.Itoa(i)+"]", 32, false)
			out[i] = uint32(n)
		}
	}
	return out
}

// objects are the elements of the array of objects under key: nil when
// there is none, empty for [] (encoding/json makes an empty slice of it),
// and a null element is one whose every field is zero.
func (o jsonObject) objects(key string) []jsonObject {
	a := o.list(key)
	if a == nil {
		return nil
	}
	out := make([]jsonObject, len(a))
	for i, e := range a {
		if el, ok := o.d.object(e, o.at(key)+"["+strconv.Itoa(i)+"]"); ok {
			out[i] = el
		} else {
			out[i] = jsonObject{d: o.d}
		}
	}
	return out
}

// members are the members of the object of objects under key: nil when
// there is none, empty for {}; a null member has every field zero.
func (o jsonObject) members(key string) map[string]jsonObject {
	m, ok := o.obj(key)
	if !ok {
		return nil
	}
	out := make(map[string]jsonObject, len(m.m))
	for k, v := range m.m {
		if el, ok := o.d.object(v, m.at(k)); ok {
			out[k] = el
		} else {
			out[k] = jsonObject{d: o.d}
		}
	}
	return out
}

func (o jsonObject) strMap(key string) map[string]string {
	m, ok := o.obj(key)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m.m))
	for k := range m.m {
		out[k] = m.str(k)
	}
	return out
}

// number parses v, a JSON number, as encoding/json would into an integer
// of that size and signedness: no fraction, no exponent, in range.
func (d *jsonDecoder) number(v any, path string, bits int, signed bool) (uint64, bool) {
	n, ok := v.(jsonlite.Number)
	if !ok {
		d.fail(path, "an integer", v)
		return 0, false
	}
	if signed {
		i, err := strconv.ParseInt(string(n), 10, bits)
		if err != nil {
			d.fail(path, "an integer of "+strconv.Itoa(bits)+" bits", v)
			return 0, false
		}
		return uint64(i), true
	}
	u, err := strconv.ParseUint(string(n), 10, bits)
	if err != nil {
		d.fail(path, "an unsigned integer of "+strconv.Itoa(bits)+" bits", v)
		return 0, false
	}
	return u, true
}

func (o jsonObject) unsignedPtr(key string, bits int) (uint64, bool) {
	v := o.m[key]
	if v == nil {
		return 0, false
	}
	return o.d.number(v, o.at(key), bits, false)
}

func (o jsonObject) signedPtr(key string, bits int) (int64, bool) {
	v := o.m[key]
	if v == nil {
		return 0, false
	}
	n, ok := o.d.number(v, o.at(key), bits, true)
	return int64(n), ok
}

func (o jsonObject) unsigned(key string, bits int) uint64 {
	n, _ := o.unsignedPtr(key, bits)
	return n
}

func (o jsonObject) signed(key string, bits int) int64 {
	n, _ := o.signedPtr(key, bits)
	return n
}

func (o jsonObject) int64Ptr(key string) *int64 {
	if n, ok := o.signedPtr(key, 64); ok {
		return &n
	}
	return nil
}

func (o jsonObject) uint64Ptr(key string) *uint64 {
	if n, ok := o.unsignedPtr(key, 64); ok {
		return &n
	}
	return nil
}

func (o jsonObject) uint32Ptr(key string) *uint32 {
	if n, ok := o.unsignedPtr(key, 32); ok {
		v := uint32(n)
		return &v
	}
	return nil
}

func (o jsonObject) uint16Ptr(key string) *uint16 {
	if n, ok := o.unsignedPtr(key, 16); ok {
		v := uint16(n)
		return &v
	}
	return nil
}

func (o jsonObject) uintPtr(key string) *uint {
	if n, ok := o.unsignedPtr(key, strconv.IntSize); ok {
		v := uint(n)
		return &v
	}
	return nil
}
