package cgroup

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Byte layouts written out from the kernel's instruction encoding
// (Documentation/bpf/standardization/instruction-set.rst), not from
// marshalInsns, so a wrong opcode, nibble order or field width shows.
func TestMarshalInsns(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		t.Skip("golden bytes are little-endian")
	}
	cases := []struct {
		in   bpfInsn
		want string
	}{
		{ldxW(bpfR2, bpfR1, 8), "61 12 08 00 00 00 00 00"},
		{mov32Reg(bpfR3, bpfR2), "bc 23 00 00 00 00 00 00"},
		{and32Imm(bpfR3, 0xffff), "54 03 00 00 ff ff 00 00"},
		{rsh32Imm(bpfR4, 16), "74 04 00 00 10 00 00 00"},
		{mov64Imm(bpfR0, 1), "b7 00 00 00 01 00 00 00"},
		{jneImm(bpfR5, 136, 3), "55 05 03 00 88 00 00 00"},
		{jeqImm(bpfR7, 0, 2), "15 07 02 00 00 00 00 00"},
		{jneImm(bpfR6, -1, -1), "55 06 ff ff ff ff ff ff"},
		{exit(), "95 00 00 00 00 00 00 00"},
	}
	for _, c := range cases {
		if got := fmt.Sprintf("% x", marshalInsns([]bpfInsn{c.in})); got != c.want {
			t.Errorf("%+v: % s, want %s", c.in, got, c.want)
		}
	}
}

// runFilter interprets the few instructions deviceFilter emits against a
// struct bpf_cgroup_dev_ctx, with the verifier's rule that jumps go forward.
func runFilter(t *testing.T, prog []bpfInsn, accessType, major, minor uint32) bool {
	t.Helper()
	var reg [11]uint64
	ctx := map[int16]uint32{0: accessType, 4: major, 8: minor}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.code {
		case 0x61:
			v, ok := ctx[in.off]
			if in.src != bpfR1 || !ok {
				t.Fatalf("pc %d: load from r%d+%d", pc, in.src, in.off)
			}
			reg[in.dst] = uint64(v)
		case 0xbc:
			reg[in.dst] = uint64(uint32(reg[in.src]))
		case 0x54:
			reg[in.dst] = uint64(uint32(reg[in.dst]) & uint32(in.imm))
		case 0x74:
			reg[in.dst] = uint64(uint32(reg[in.dst]) >> uint32(in.imm))
		case 0xb7:
			reg[in.dst] = uint64(int64(in.imm))
		case 0x55, 0x15:
			if in.off < 0 || pc+1+int(in.off) > len(prog) {
				t.Fatalf("pc %d: jump by %d out of a %d-instruction program", pc, in.off, len(prog))
			}
			if (reg[in.dst] == uint64(int64(in.imm))) == (in.code == 0x15) {
				pc += int(in.off)
			}
		case 0x95:
			return reg[0] == 1
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.code)
		}
	}
	t.Fatal("program runs off its end")
	return false
}

// wantAllowed restates the rule semantics independently of the compiler:
// the last matching rule decides, no match allows.
func wantAllowed(rules []specs.LinuxDeviceCgroup, typ byte, major, minor int64, req string) bool {
	allowed := true
	for _, r := range rules {
		if r.Type != "" && r.Type != "a" && r.Type[0] != typ {
			continue
		}
		if r.Major != nil && *r.Major >= 0 && *r.Major != major {
			continue
		}
		if r.Minor != nil && *r.Minor >= 0 && *r.Minor != minor {
			continue
		}
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		covered, overlaps := true, false
		for _, c := range req {
			if strings.ContainsRune(access, c) {
				overlaps = true
			} else {
				covered = false
			}
		}
		if r.Allow && covered || !r.Allow && overlaps {
			allowed = r.Allow
		}
	}
	return allowed
}

func TestDeviceFilterSemantics(t *testing.T) {
	var pool []specs.LinuxDeviceCgroup
	for _, typ := range []string{"", "a", "b", "c"} {
		for _, acc := range []string{"", "r", "w", "m", "rw", "wm", "rwm"} {
			for _, maj := range []*int64{nil, i64(-1), i64(1), i64(136)} {
				for _, min := range []*int64{nil, i64(3), i64(9)} {
					for _, allow := range []bool{false, true} {
						pool = append(pool, specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: acc, Major: maj, Minor: min})
					}
				}
			}
		}
	}
	type dev struct {
		typ          byte
		major, minor int64
	}
	var devs []dev
	for _, typ := range []byte{'b', 'c'} {
		for _, maj := range []int64{1, 5, 136} {
			for _, min := range []int64{3, 9} {
				devs = append(devs, dev{typ, maj, min})
			}
		}
	}
	letters := map[int]string{}
	for bits := 1; bits <= 7; bits++ {
		for i, c := range "mrw" { // devcgMknod, devcgRead, devcgWrite
			if bits&(1<<i) != 0 {
				letters[bits] += string(c)
			}
		}
	}
	// Rule lists of one to three rules, spread over the pool by strides.
	checked := 0
	for i := range pool {
		for _, stride := range []int{1, 17, 101} {
			rules := []specs.LinuxDeviceCgroup{pool[i], pool[(i+stride)%len(pool)], pool[(i*stride+7)%len(pool)]}
			for n := 1; n <= len(rules); n++ {
				prog, err := deviceFilter(rules[:n])
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range devs {
					typ := uint32(devcgBlock)
					if d.typ == 'c' {
						typ = devcgChar
					}
					for bits, req := range letters {
						got := runFilter(t, prog, typ|uint32(bits)<<16, uint32(d.major), uint32(d.minor))
						if want := wantAllowed(rules[:n], d.typ, d.major, d.minor, req); got != want {
							t.Fatalf("rules %+v, %c %d:%d %q: allowed %v, want %v", rules[:n], d.typ, d.major, d.minor, req, got, want)
						}
						checked++
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

// A rule that decides everything ends the program: the verifier refuses
// instructions no path reaches.
func TestDeviceFilterStopsAtUnconditionalRule(t *testing.T) {
	prog, err := deviceFilter([]specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: false, Access: "rwm"},
	})
	if err != nil {
		t.Fatal(err)
	}
	code := marshalInsns(prog)
	tail := marshalInsns([]bpfInsn{mov64Imm(bpfR0, 0), exit()})
	if !bytes.HasSuffix(code, tail) || len(prog) != 9 {
		t.Errorf("program of %d instructions does not end at the deny-all rule: % x", len(prog), code)
	}
}
