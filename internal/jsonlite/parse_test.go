package jsonlite

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// fromEncodingJSON decodes data as encoding/json does for `any` with
// UseNumber, numbers turned into Number, for comparison.
func fromEncodingJSON(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, os.ErrInvalid
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var conv func(any) any
	conv = func(v any) any {
		switch v := v.(type) {
		case json.Number:
			return Number(v)
		case map[string]any:
			for k, e := range v {
				v[k] = conv(e)
			}
		case []any:
			for i, e := range v {
				v[i] = conv(e)
			}
		}
		return v
	}
	return conv(v), nil
}

func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	valid := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `12`, `-1.5e+10`, `3E-2`, `1.0`,
		`18446744073709551615`, `-9223372036854775808`, `""`, ` {"a" : [1, 2 ,{"b":null}] } `,
		`{"a":1,"a":2}`, // the last wins
		`"\u00e9\u0041\n\t\\\"\/\b\f\r"`,
		`"\ud83d\ude00"`,                                      // a surrogate pair
		`"\ud83d"`, `"\ude00"`, `"\ud83dx"`, `"\ud83d\u0041"`, // lone halves
		"\"caf\xc3\xa9\"", "\"bad \xff byte\"", "\"cut \xe2\x82\"",
		`{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo \"hi\""],"env":["A=1"],"user":{"uid":0}},"linux":{"resources":{"memory":{"limit":-1}}}}`,
		"[[[[[[[[[[1]]]]]]]]]]",
	}
	for _, doc := range valid {
		want, err := fromEncodingJSON([]byte(doc))
		if err != nil {
			t.Fatalf("encoding/json rejects %q: %v", doc, err)
		}
		got, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, encoding/json gives %#v", doc, got, want)
		}
	}
	invalid := []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{1:1}`, `[1 2]`,
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`, `Infinity`, `tru`, `nul`, `falsey`,
		`"abc`, `"a\qb"`, `"\u12"`, `"\u12zz"`, "\"tab\there\"", "\"nl\nx\"", `"a" "b"`, `{}x`, `[]]`,
		`'single'`, `{"a":1}/* comment */`,
	}
	for _, doc := range invalid {
		if _, err := fromEncodingJSON([]byte(doc)); err == nil {
			t.Fatalf("encoding/json accepts %q", doc)
		}
		if v, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) = %#v, want an error", doc, v)
		}
	}
}

func TestParseJSONErrorsSayWhere(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"a":1,}`, "invalid JSON at offset 7: unexpected '}' looking for an object key"},
		{`[1 2]`, "invalid JSON at offset 3: unexpected '2' after an array element"},
		{`{"a":tru}`, "invalid JSON at offset 8: unexpected '}' in literal true"},
		{"\"a\x01\"", `invalid JSON at offset 2: control character '\x01' in a string`},
		{`"a\qb"`, `invalid JSON at offset 3: bad escape 'q' in a string`},
		{`1.`, "invalid JSON at offset 2: unexpected end of input after a decimal point"},
		{strings.Repeat("[", maxDepth+1), "nested too deeply"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || err.Error() != c.want && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.doc, err, c.want)
		}
	}
}
