package cgroup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// The few eBPF pieces the device filter needs, spoken to the kernel
// through bpf(2) directly. A general eBPF library (cilium/ebpf) pulls
// debug/elf, zstd, flate and BTF into every pcr process and costs about a
// millisecond of package init on the container start path, twice per
// start, for a program of a few dozen instructions.

// bpfInsn is struct bpf_insn (include/uapi/linux/bpf.h).
type bpfInsn struct {
	code uint8
	dst  uint8 // register numbers, 0..10
	src  uint8
	off  int16
	imm  int32
}

// Opcode parts (include/uapi/linux/bpf_common.h and bpf.h).
const (
	bpfClassLDX   = 0x01
	bpfClassALU   = 0x04
	bpfClassJMP   = 0x05
	bpfClassALU64 = 0x07

	bpfSizeW   = 0x00
	bpfModeMem = 0x60

	bpfSrcK = 0x00 // immediate operand
	bpfSrcX = 0x08 // register operand

	bpfOpAnd = 0x50
	bpfOpRsh = 0x70
	bpfOpMov = 0xb0

	bpfOpJEq  = 0x10
	bpfOpJNE  = 0x50
	bpfOpExit = 0x90
)

// bpfReg names the registers the filter uses; R1 holds the context.
type bpfReg = uint8

const (
	bpfR0 bpfReg = iota
	bpfR1
	bpfR2
	bpfR3
	bpfR4
	bpfR5
	bpfR6
	bpfR7
)

// ldxW loads the 32-bit word at src+off into dst.
func ldxW(dst, src bpfReg, off int16) bpfInsn {
	return bpfInsn{code: bpfClassLDX | bpfSizeW | bpfModeMem, dst: dst, src: src, off: off}
}

// mov32Reg, and32Imm and rsh32Imm are 32-bit ALU operations; they zero the
// upper half of dst.
func mov32Reg(dst, src bpfReg) bpfInsn {
	return bpfInsn{code: bpfClassALU | bpfOpMov | bpfSrcX, dst: dst, src: src}
}

func and32Imm(dst bpfReg, imm int32) bpfInsn {
	return bpfInsn{code: bpfClassALU | bpfOpAnd | bpfSrcK, dst: dst, imm: imm}
}

func rsh32Imm(dst bpfReg, imm int32) bpfInsn {
	return bpfInsn{code: bpfClassALU | bpfOpRsh | bpfSrcK, dst: dst, imm: imm}
}

// mov64Imm sets dst to the sign-extended imm.
func mov64Imm(dst bpfReg, imm int32) bpfInsn {
	return bpfInsn{code: bpfClassALU64 | bpfOpMov | bpfSrcK, dst: dst, imm: imm}
}

// jneImm and jeqImm compare all 64 bits of dst with the sign-extended imm
// and skip off instructions when the condition holds.
func jneImm(dst bpfReg, imm int32, off int16) bpfInsn {
	return bpfInsn{code: bpfClassJMP | bpfOpJNE | bpfSrcK, dst: dst, imm: imm, off: off}
}

func jeqImm(dst bpfReg, imm int32, off int16) bpfInsn {
	return bpfInsn{code: bpfClassJMP | bpfOpJEq | bpfSrcK, dst: dst, imm: imm, off: off}
}

func exit() bpfInsn { return bpfInsn{code: bpfClassJMP | bpfOpExit} }

// marshalInsns lays instructions out as the kernel reads them: the two
// register nibbles share a byte, dst in the low one on little-endian
// machines and the high one on big-endian ones.
func marshalInsns(insns []bpfInsn) []byte {
	bigEndian := binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	out := make([]byte, 0, 8*len(insns))
	for _, in := range insns {
		regs := in.src<<4 | in.dst&0x0f
		if bigEndian {
			regs = in.dst<<4 | in.src&0x0f
		}
		out = append(out, in.code, regs)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}

// bpfPtr is an __aligned_u64 holding a user pointer. Keeping it an
// unsafe.Pointer, not a uintptr, keeps the buffer alive and tracked by
// the GC while the kernel reads it.
type bpfPtr struct{ p unsafe.Pointer }

// The kernel reads every pointer as 64 bits; this stops a 32-bit build at
// compile time rather than handing the kernel half a pointer.
const _ = unsafe.Sizeof(bpfPtr{}) - 8

func bpfPtrTo(b []byte) bpfPtr {
	if len(b) == 0 {
		return bpfPtr{}
	}
	return bpfPtr{p: unsafe.Pointer(&b[0])}
}

// The union bpf_attr members for the commands used here, field for field
// (include/uapi/linux/bpf.h). Each is a prefix of what the kernel knows;
// the kernel treats missing tail fields as zero.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       bpfPtr
	license     bpfPtr
	logLevel    uint32
	logSize     uint32
	logBuf      bpfPtr
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type bpfProgQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     bpfPtr
	progCnt     uint32
	_           uint32
}

type bpfGetFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

type bpfObjInfoAttr struct {
	bpfFd   uint32
	infoLen uint32
	info    bpfPtr
}

// bpfProgInfo is the head of struct bpf_prog_info, up to the name.
type bpfProgInfo struct {
	progType        uint32
	id              uint32
	tag             [unix.BPF_TAG_SIZE]byte
	jitedProgLen    uint32
	xlatedProgLen   uint32
	jitedProgInsns  uint64
	xlatedProgInsns uint64
	loadTime        uint64
	createdByUID    uint32
	nrMapIDs        uint32
	mapIDs          uint64
	name            [unix.BPF_OBJ_NAME_LEN]byte
}

func bpfCall[T any](cmd uintptr, attr *T) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(attr)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// bpfLogSize bounds the verifier log kept on a failed load; the filter is
// small, so its whole log fits.
const bpfLogSize = 256 << 10

// loadCgroupDeviceProg loads insns as a BPF_PROG_TYPE_CGROUP_DEVICE program
// named name and returns its fd. The first attempt runs without a verifier
// log, which costs the kernel time; a refusal is retried with one so the
// error says which instruction the verifier objected to.
func loadCgroupDeviceProg(insns []bpfInsn, name string) (int, error) {
	code := marshalInsns(insns)
	license := []byte("Apache-2.0\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    bpfPtrTo(code),
		license:  bpfPtrTo(license),
	}
	copy(attr.progName[:unix.BPF_OBJ_NAME_LEN-1], name)
	fd, err := retryEINTR(func() (int, error) { return bpfCall(unix.BPF_PROG_LOAD, &attr) })
	if err == nil {
		return fd, nil
	}
	log := make([]byte, bpfLogSize)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = bpfPtrTo(log)
	fd, err2 := retryEINTR(func() (int, error) { return bpfCall(unix.BPF_PROG_LOAD, &attr) })
	if err2 == nil {
		// Loaded the second time round: take it.
		return fd, nil
	}
	if msg := string(bytes.TrimSpace(bytes.TrimRight(log, "\x00"))); msg != "" {
		return -1, fmtlite.Errorf("bpf BPF_PROG_LOAD cgroup device program (%d instructions): %w; verifier log:\n%s", len(insns), err, msg)
	}
	return -1, fmtlite.Errorf("bpf BPF_PROG_LOAD cgroup device program (%d instructions): %w", len(insns), err)
}

// retryEINTR repeats a bpf(2) call the kernel interrupted; BPF_PROG_LOAD
// does that when a signal arrives during verification.
func retryEINTR(call func() (int, error)) (int, error) {
	for {
		fd, err := call()
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// attachCgroupDeviceProg attaches the program progFd to the cgroup cgFd
// next to any already there (BPF_F_ALLOW_MULTI); the kernel then allows
// only what every attached program allows.
func attachCgroupDeviceProg(cgFd, progFd int) error {
	attr := bpfProgAttachAttr{
		targetFd:    uint32(cgFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, err := bpfCall(unix.BPF_PROG_ATTACH, &attr)
	if err != nil {
		return fmtlite.Errorf("bpf BPF_PROG_ATTACH BPF_CGROUP_DEVICE: %w", err)
	}
	return nil
}

func detachCgroupDeviceProg(cgFd, progFd int) error {
	attr := bpfProgAttachAttr{
		targetFd:    uint32(cgFd),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	_, err := bpfCall(unix.BPF_PROG_DETACH, &attr)
	if err != nil {
		return fmtlite.Errorf("bpf BPF_PROG_DETACH BPF_CGROUP_DEVICE: %w", err)
	}
	return nil
}

// cgroupDeviceProgIDs lists the ids of the device programs attached to
// the cgroup itself, not those inherited from its ancestors.
func cgroupDeviceProgIDs(cgFd int) ([]uint32, error) {
	for n := 8; ; n *= 2 {
		ids := make([]uint32, n)
		attr := bpfProgQueryAttr{
			targetFd:   uint32(cgFd),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    bpfPtr{p: unsafe.Pointer(&ids[0])},
			progCnt:    uint32(n),
		}
		_, err := bpfCall(unix.BPF_PROG_QUERY, &attr)
		switch {
		case errors.Is(err, unix.ENOSPC) && n < 1<<16:
			continue // progCnt now says how many there are; ask again
		case err != nil:
			return nil, fmtlite.Errorf("bpf BPF_PROG_QUERY BPF_CGROUP_DEVICE: %w", err)
		}
		return ids[:min(int(attr.progCnt), n)], nil
	}
}

// progFdByID opens the program with the given id; the caller closes it.
func progFdByID(id uint32) (int, error) {
	attr := bpfGetFdByIDAttr{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, &attr)
	if err != nil {
		return -1, fmtlite.Errorf("bpf BPF_PROG_GET_FD_BY_ID %d: %w", id, err)
	}
	return fd, nil
}

// progInfo returns the id and name of the program behind fd.
func progInfo(fd int) (uint32, string, error) {
	var info bpfProgInfo
	attr := bpfObjInfoAttr{
		bpfFd:   uint32(fd),
		infoLen: uint32(unsafe.Sizeof(info)),
		info:    bpfPtr{p: unsafe.Pointer(&info)},
	}
	if _, err := bpfCall(unix.BPF_OBJ_GET_INFO_BY_FD, &attr); err != nil {
		return 0, "", fmtlite.Errorf("bpf BPF_OBJ_GET_INFO_BY_FD: %w", err)
	}
	name, _, _ := bytes.Cut(info.name[:], []byte{0})
	return info.id, string(name), nil
}
