package jsonlite

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "nl\n cr\r tab\t nul\x00 del\x7f esc\x1b",
	"<html> & friends", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff byte", "cut \xe2\x82",
}

func TestAppendStringReadsBackAsEncodingJSONs(t *testing.T) {
	for _, s := range awkwardStrings {
		enc := AppendString(nil, s)
		var got, want string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("encoding of %q is not JSON: %s: %v", s, enc, err)
		}
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &want)
		if got != want {
			t.Errorf("%q: %s reads back %q, encoding/json's %q", s, enc, got, want)
		}
	}
}

func TestObjectWritersAndIndent(t *testing.T) {
	b := append([]byte(nil), '{')
	b = String(b, "name", "c1")
	b = Int(b, "pid", -1)
	b = Uint(b, "big", 1<<63)
	b = Bool(b, "ok", true)
	b = Raw(b, "none", nil)
	b = Raw(b, "raw", []byte(`{"a": [1, 2]}`))
	b = AppendStrings(Key(b, "list"), []string{"x", awkwardStrings[2]})
	b = AppendStrings(Key(b, "nil"), nil)
	b = AppendStringMap(Key(b, "map"), map[string]string{"z": "1", "a": "2"})
	b = AppendStringMap(Key(b, "empty"), map[string]string{})
	b = Key(b, "emptyList")
	b = append(b, "[ ]"...)
	b = append(b, '}')
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{"name": "c1", "pid": -1.0, "big": float64(1 << 63), "ok": true, "none": nil,
		"raw": map[string]any{"a": []any{1.0, 2.0}}, "list": []any{"x", awkwardStrings[2]}, "nil": nil,
		"map": map[string]any{"z": "1", "a": "2"}, "empty": map[string]any{}, "emptyList": []any{}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("wrote %s", b)
	}
	for _, ind := range []string{"\t", "  "} {
		var std bytes.Buffer
		if err := json.Indent(&std, b, ">", ind); err != nil {
			t.Fatal(err)
		}
		if got := string(Indent(nil, b, ">", ind)); got != std.String() {
			t.Errorf("Indent:\n%s\nencoding/json:\n%s", got, std.String())
		}
	}
	if !strings.Contains(string(b), `"map":{"a":"2","z":"1"}`) {
		t.Errorf("map keys not sorted: %s", b)
	}
}

func TestParseObjectRawKeepsTheMemberAsWritten(t *testing.T) {
	m, raw, err := ParseObjectRaw([]byte(` {"type":"config", "config": {"b" : [1, 2.50]} ,"n":null} `), "config")
	if err != nil || m["type"] != "config" || string(raw) != `{"b" : [1, 2.50]}` || m["n"] != nil {
		t.Errorf("got %v %q %v", m, raw, err)
	}
	if _, raw, _ := ParseObjectRaw([]byte(`{"config":null}`), "config"); raw != nil {
		t.Errorf("null member kept as %q", raw)
	}
	for _, bad := range []string{`[]`, `{"a":1`, `{"a":1}x`, `{"a" 1}`, ``} {
		if _, _, err := ParseObjectRaw([]byte(bad), "a"); err == nil {
			t.Errorf("ParseObjectRaw(%q) accepted", bad)
		}
	}
}
