package runtime

// Hand-written encoders for the two records `pcr-oci run` writes, the
// container's state.json and its sync messages, so that the run path
// never goes through encoding/json's reflection (see jsonparse.go for
// why). Readers of state.json still use encoding/json; jsonwrite_test.go
// checks that both encodings decode to the same record.

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"pcr/cgroup"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as a JSON string; invalid UTF-8
// becomes U+FFFD, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONStringMap appends m as an object with sorted keys; nil as null.
func appendJSONStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

func appendJSONStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// jsonObjectWriter writes one object's members, commas between them.
type jsonObjectWriter struct{ b []byte }

func newJSONObject(b []byte) *jsonObjectWriter { return &jsonObjectWriter{b: append(b, '{')} }

func (w *jsonObjectWriter) key(k string) []byte {
	if w.b[len(w.b)-1] != '{' {
		w.b = append(w.b, ',')
	}
	w.b = appendJSONString(w.b, k)
	return append(w.b, ':')
}

func (w *jsonObjectWriter) str(k, v string)          { w.b = appendJSONString(w.key(k), v) }
func (w *jsonObjectWriter) num(k string, v int64)    { w.b = strconv.AppendInt(w.key(k), v, 10) }
func (w *jsonObjectWriter) unum(k string, v uint64)  { w.b = strconv.AppendUint(w.key(k), v, 10) }
func (w *jsonObjectWriter) boolean(k string, v bool) { w.b = strconv.AppendBool(w.key(k), v) }

// raw writes v, a JSON value already encoded (null when empty).
func (w *jsonObjectWriter) raw(k string, v []byte) {
	w.b = w.key(k)
	if len(v) == 0 {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, v...)
}

func (w *jsonObjectWriter) end() []byte { return append(w.b, '}') }

// encode is s as state.json: what json.Marshal(s) gives, field for field.
func (s *State) encode() ([]byte, error) {
	created, err := s.Created.MarshalJSON()
	if err != nil {
		return nil, err
	}
	w := newJSONObject(make([]byte, 0, 512+len(s.Config)))
	w.str("ociVersion", s.OCIVersion)
	w.str("id", s.ID)
	w.str("bundle", s.Bundle)
	w.str("rootfs", s.Rootfs)
	w.num("pid", int64(s.Pid))
	w.unum("pidStart", s.PidStart)
	w.raw("created", created)
	w.str("owner", s.Owner)
	if len(s.Annotations) > 0 {
		w.b = appendJSONStringMap(w.key("annotations"), s.Annotations)
	}
	w.raw("cgroup", encodeCgroupState(s.Cgroup))
	w.boolean("ownPidNS", s.OwnPidNS)
	w.raw("config", s.Config)
	return w.end(), nil
}

func encodeCgroupState(st cgroup.State) []byte {
	w := newJSONObject(nil)
	w.str("version", st.Version)
	w.b = appendJSONStringMap(w.key("paths"), st.Paths)
	if len(st.Created) > 0 {
		w.b = appendJSONStrings(w.key("created"), st.Created)
	}
	return w.end()
}

// encode is m as one sync packet (the fields json.Marshal would write).
func (m syncMsg) encode() []byte {
	w := newJSONObject(make([]byte, 0, 64+len(m.Config)))
	w.str("type", m.Type)
	if m.Error != "" {
		w.str("error", m.Error)
	}
	if m.ExecFailed != "" {
		w.str("execFailed", m.ExecFailed)
	}
	if m.Pid != 0 {
		w.num("pid", int64(m.Pid))
	}
	if len(m.Config) > 0 {
		w.raw("config", m.Config)
	}
	return w.end()
}

// decodeSyncMsg reads one sync packet: an object whose config member, if
// any, is kept as the bytes it was sent as.
func decodeSyncMsg(data []byte) (syncMsg, error) {
	p := &jsonParser{data: data}
	fields := map[string]any{}
	var config []byte
	p.space()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return syncMsg{}, p.unexpected("looking for an object")
	}
	p.pos++
	for first := true; ; first = false {
		p.space()
		if first && p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			break
		}
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return syncMsg{}, p.unexpected("looking for an object key")
		}
		k, err := p.str()
		if err != nil {
			return syncMsg{}, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return syncMsg{}, p.unexpected("after an object key")
		}
		p.pos++
		p.space()
		start := p.pos
		v, err := p.value()
		if err != nil {
			return syncMsg{}, err
		}
		fields[k] = v
		if k == "config" {
			config = nil
			if v != nil {
				config = slices.Clone(data[start:p.pos])
			}
		}
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			break
		}
		return syncMsg{}, p.unexpected("after an object value")
	}
	p.space()
	if p.pos < len(p.data) {
		return syncMsg{}, p.errorf("data after the message")
	}
	d := &jsonDecoder{}
	o := jsonObject{d: d, m: fields, path: "message"}
	m := syncMsg{Type: o.str("type"), Error: o.str("error"), ExecFailed: o.str("execFailed"),
		Pid: int(o.signed("pid", strconv.IntSize)), Config: config}
	return m, d.err
}
