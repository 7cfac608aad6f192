package runtime

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"go/format"
	"os"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// specenc.go is generated from the runtime-spec types by this test, so that
// a runtime-spec upgrade that adds a field fails here until the encoders
// are written again: PCR_REGEN=1 go test -run TestSpecEncodersAreGenerated ./runtime
func TestSpecEncodersAreGenerated(t *testing.T) {
	g := &encGen{done: map[reflect.Type]bool{}}
	g.root(reflect.TypeFor[specs.Spec](), specSectionsSkipped)
	g.root(reflect.TypeFor[specs.State](), nil)
	g.root(reflect.TypeFor[features.Features](), nil)
	src := g.source()
	if os.Getenv("PCR_REGEN") == "1" {
		if err := os.WriteFile("specenc.go", src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("specenc.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, src) {
		t.Fatal("specenc.go is not what the runtime-spec types give now: PCR_REGEN=1 go test -run TestSpecEncodersAreGenerated ./runtime")
	}
}

type encGen struct {
	done  map[reflect.Type]bool
	queue []reflect.Type
	skip  map[reflect.Type]map[string]bool
	body  bytes.Buffer
	vars  int
}

func (g *encGen) root(t reflect.Type, skip map[string]bool) {
	if g.skip == nil {
		g.skip = map[reflect.Type]map[string]bool{}
	}
	g.skip[t] = skip
	g.want(t)
	for len(g.queue) > 0 {
		next := g.queue[0]
		g.queue = g.queue[1:]
		g.structFunc(next)
	}
}

func (g *encGen) want(t reflect.Type) string {
	if !g.done[t] {
		g.done[t] = true
		g.queue = append(g.queue, t)
	}
	return encFuncName(t)
}

func encTypeName(t reflect.Type) string {
	pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
	if pkg == "specs-go" {
		pkg = "specs"
	}
	return pkg + "." + t.Name()
}

func encFuncName(t reflect.Type) string {
	n := encTypeName(t)
	return "append" + strings.ToUpper(n[:1]) + strings.ReplaceAll(n[1:], ".", "")
}

func (g *encGen) printf(format string, args ...any) { fmt.Fprintf(&g.body, format, args...) }

func (g *encGen) fresh(prefix string) string {
	g.vars++
	return fmt.Sprintf("%s%d", prefix, g.vars)
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func (g *encGen) structFunc(t reflect.Type) {
	if t.Kind() != reflect.Struct {
		panic("encGen: not a struct: " + t.String())
	}
	g.printf("\nfunc %s(b []byte, v *%s) []byte {\n\tb = append(b, '{')\n", encFuncName(t), encTypeName(t))
	g.fields(t, "v.", g.skip[t])
	g.printf("\treturn append(b, '}')\n}\n")
}

// fields emits t's members; an embedded struct without a name of its own
// has its fields promoted, as encoding/json does.
func (g *encGen) fields(t reflect.Type, prefix string, skip map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if skip[f.Name] {
			continue
		}
		tag := f.Tag.Get("json")
		if f.Anonymous && f.Type.Kind() == reflect.Struct && tag == "" {
			g.fields(f.Type, prefix+f.Name+".", nil)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if strings.Contains(opts, "omitzero") || strings.Contains(opts, "string") {
			panic("encGen: unsupported tag option on " + t.String() + "." + f.Name)
		}
		expr := prefix + f.Name
		cond := ""
		if strings.Contains(opts, "omitempty") {
			switch f.Type.Kind() {
			case reflect.String:
				cond = expr + ` != ""`
			case reflect.Bool:
				cond = expr
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				cond = expr + " != 0"
			case reflect.Pointer, reflect.Interface:
				cond = expr + " != nil"
			case reflect.Slice, reflect.Map:
				cond = "len(" + expr + ") > 0"
			}
		}
		if cond != "" {
			g.printf("\tif %s {\n", cond)
		}
		g.printf("\tb = jsonlite.Key(b, %q)\n", name)
		g.value(expr, f.Type, true)
		if cond != "" {
			g.printf("\t}\n")
		}
	}
}

// value emits code appending expr, of type t; addressable says &expr is valid.
func (g *encGen) value(expr string, t reflect.Type, addressable bool) {
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		panic("encGen: " + t.String() + " marshals itself")
	}
	switch t.Kind() {
	case reflect.String:
		g.printf("\tb = jsonlite.AppendString(b, string(%s))\n", expr)
	case reflect.Bool:
		g.printf("\tb = strconv.AppendBool(b, %s)\n", expr)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		g.printf("\tb = strconv.AppendInt(b, int64(%s), 10)\n", expr)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		g.printf("\tb = strconv.AppendUint(b, uint64(%s), 10)\n", expr)
	case reflect.Pointer:
		g.printf("\tif %s == nil {\n\tb = append(b, \"null\"...)\n\t} else {\n", expr)
		if t.Elem().Kind() == reflect.Struct {
			g.printf("\tb = %s(b, %s)\n", g.want(t.Elem()), expr)
		} else {
			g.value("(*"+expr+")", t.Elem(), true)
		}
		g.printf("\t}\n")
	case reflect.Struct:
		if addressable {
			g.printf("\tb = %s(b, &%s)\n", g.want(t), expr)
		} else {
			e := g.fresh("e")
			g.printf("\t%s := %s\n\tb = %s(b, &%s)\n", e, expr, g.want(t), e)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			panic("encGen: a byte slice")
		}
		i := g.fresh("i")
		g.printf("\tif %s == nil {\n\tb = append(b, \"null\"...)\n\t} else {\n\tb = append(b, '[')\n", expr)
		g.printf("\tfor %s := range %s {\n\tb = jsonlite.Comma(b)\n", i, expr)
		g.value(expr+"["+i+"]", t.Elem(), true)
		g.printf("\t}\n\tb = append(b, ']')\n\t}\n")
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic("encGen: a map keyed by " + t.Key().String())
		}
		k := g.fresh("k")
		g.printf("\tif %s == nil {\n\tb = append(b, \"null\"...)\n\t} else {\n\tb = append(b, '{')\n", expr)
		g.printf("\tfor _, %s := range jsonlite.SortedKeys(%s) {\n\tb = jsonlite.Key(b, string(%s))\n", k, expr, k)
		g.value(expr+"["+k+"]", t.Elem(), false)
		g.printf("\t}\n\tb = append(b, '}')\n\t}\n")
	default:
		panic("encGen: no encoding for " + t.String())
	}
}

func (g *encGen) source() []byte {
	var out bytes.Buffer
	out.WriteString(`// Code generated by TestSpecEncodersAreGenerated (specenc_gen_test.go); DO NOT EDIT.

package runtime

// Encoders for the runtime-spec types pcr writes (the spec, the state
// handed to hooks, the features document), without encoding/json: they
// write what json.Marshal writes, field for field, and skip the sections
// of other platforms, which decodeSpec leaves out as well.

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"pcr/internal/jsonlite"
)
`)
	out.Write(g.body.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		panic(fmt.Sprintf("encGen: %v\n%s", err, out.Bytes()))
	}
	return src
}

// The generated encoders write what json.Marshal writes: every field set,
// none set, and the specs pcr writes itself.
func TestSpecEncodersMatchEncodingJSON(t *testing.T) {
	var full specs.Spec
	n := 0
	fillValue(reflect.ValueOf(&full).Elem(), &n, true)
	var fullState specs.State
	fillValue(reflect.ValueOf(&fullState).Elem(), &n, false)
	var fullFeatures features.Features
	fillValue(reflect.ValueOf(&fullFeatures).Elem(), &n, false)
	feats := Features()
	for _, c := range []struct {
		name string
		v    any
		enc  []byte
	}{
		{"every spec field", &full, encodeSpec(&full)},
		{"an empty spec", &specs.Spec{}, encodeSpec(&specs.Spec{})},
		{"the default spec", DefaultSpec(false), encodeSpec(DefaultSpec(false))},
		{"the rootless default spec", DefaultSpec(true), encodeSpec(DefaultSpec(true))},
		{"every state field", &fullState, appendSpecsState(nil, &fullState)},
		{"an empty state", &specs.State{}, appendSpecsState(nil, &specs.State{})},
		{"every features field", &fullFeatures, appendFeaturesFeatures(nil, &fullFeatures)},
		{"pcr's features", feats, appendFeaturesFeatures(nil, feats)},
	} {
		std, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		var got, want any
		if err := json.Unmarshal(c.enc, &got); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", c.name, err, c.enc)
		}
		json.Unmarshal(std, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.enc, std)
		}
		// and it decodes to the same value, 64-bit integers exact
		back := reflect.New(reflect.TypeOf(c.v).Elem())
		if err := json.Unmarshal(c.enc, back.Interface()); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(back.Interface(), c.v) {
			t.Errorf("%s: decodes to a different value", c.name)
		}
	}
}
