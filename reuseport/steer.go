// Package reuseport steers a SO_REUSEPORT group's new connections to the
// sockets of one process, so that a successor started beside an older
// process takes every new client while the older one drains, and the
// connections still queued on the older one's listeners move to the
// successor when it closes them, instead of being reset.
//
// The kernel spreads a group's connections over all its sockets by a hash
// of the 4-tuple. An eBPF program of type SK_REUSEPORT attached to the
// group overrides that choice: this one picks, by the same hash, one of the
// sockets it was given in a REUSEPORT_SOCKARRAY map. Its attach type is
// SELECT_OR_MIGRATE, so the kernel also asks it where to move the requests
// and accepted-but-not-taken connections of a listener that closes
// (without it they are reset unless net.ipv4.tcp_migrate_req = 1). A socket
// that closes leaves the map by itself; when none is left the program
// selects nothing and the kernel falls back to its hash.
//
// nginx and HAProxy solve the same problem by handing their listening
// sockets to the new process. throng's event loops (gnet) can only listen
// on addresses they bind themselves, so it joins the group instead
// (docs/gnet.md §8).
//
// Loading the program needs CAP_BPF (or root); without it Steer fails with
// ErrNotPermitted and the group keeps the kernel's hash.
package reuseport

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNotPermitted is returned when the process may not load eBPF programs
// (no CAP_BPF).
var ErrNotPermitted = errors.New("reuseport: loading an eBPF program needs CAP_BPF")

// Steer makes every new connection of the reuseport group that fds belong
// to go to one of fds, chosen by the connection's hash. fds are listening
// sockets bound to the same address with SO_REUSEPORT; Steer does not keep
// or close them. The program stays attached to the group, replacing any
// earlier one, until a later Steer replaces it or the group's last socket
// closes.
func Steer(fds []int) error {
	if len(fds) == 0 {
		return errors.New("reuseport: no socket to steer to")
	}
	m, err := newSockArray(len(fds))
	if err != nil {
		return err
	}
	defer unix.Close(m)
	for i, fd := range fds {
		if err := mapUpdate(m, uint32(i), uint64(fd)); err != nil {
			return fmt.Errorf("reuseport: put socket %d in the map: %w", fd, err)
		}
	}
	prog, err := loadProgram(m, len(fds))
	if err != nil {
		return err
	}
	// The group holds its own reference to the program, and the program
	// to the map: both descriptors can go once it is attached.
	defer unix.Close(prog)
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, prog); err != nil {
		return fmt.Errorf("reuseport: attach to the group: %w", err)
	}
	return nil
}

// ctxHashOffset is where struct sk_reuseport_md keeps the connection's
// 4-tuple hash (after two pointers and four u32s).
const ctxHashOffset = 32

// bpfFuncSkSelectReuseport is bpf_sk_select_reuseport's helper number.
const bpfFuncSkSelectReuseport = 82

// skPass lets the connection through, to the selected socket if the
// helper succeeded and by the kernel's hash otherwise.
const skPass = 1

// program is the steering program for n sockets in the map m:
//
//	key = ctx->hash % n
//	bpf_sk_select_reuseport(ctx, m, &key, 0)   // fails if key's socket is gone
//	return SK_PASS
func program(m, n int) []insn {
	return []insn{
		{op: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: regs(6, 1)},                   // r6 = ctx
		{op: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, regs: regs(2, 6), off: ctxHashOffset}, // r2 = ctx->hash
		{op: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, regs: regs(2, 0), imm: int32(n)},      // w2 %= n
		{op: unix.BPF_STX | unix.BPF_MEM | unix.BPF_W, regs: regs(10, 2), off: -4},           // key on the stack
		{op: unix.BPF_LD | unix.BPF_DW | unix.BPF_IMM, regs: regs(2, unix.BPF_PSEUDO_MAP_FD), imm: int32(m)},
		{}, // second half of the 64-bit load
		{op: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: regs(1, 6)},              // r1 = ctx
		{op: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: regs(3, 10)},             // r3 = &key
		{op: unix.BPF_ALU64 | unix.BPF_ADD | unix.BPF_K, regs: regs(3, 0), imm: -4},     //
		{op: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: regs(4, 0)},              // flags = 0
		{op: unix.BPF_JMP | unix.BPF_CALL, imm: bpfFuncSkSelectReuseport},               //
		{op: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: regs(0, 0), imm: skPass}, // r0 = SK_PASS
		{op: unix.BPF_JMP | unix.BPF_EXIT},                                              //
	}
}

// insn is one eBPF instruction as the kernel reads it.
type insn struct {
	op   uint8
	regs uint8 // destination in the low nibble, source in the high one
	off  int16
	imm  int32
}

func regs(dst, src uint8) uint8 { return src<<4 | dst }

// The attribute structs keep the kernel's u64 pointer fields as
// unsafe.Pointer (8 bytes on the 64-bit platforms throng runs on), so
// that the collector and stack copying see what they point to.

// mapCreateAttr is the head of union bpf_attr for BPF_MAP_CREATE.
type mapCreateAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
}

// mapElemAttr is union bpf_attr for BPF_MAP_UPDATE_ELEM.
type mapElemAttr struct {
	mapFD uint32
	_     uint32
	key   unsafe.Pointer
	value unsafe.Pointer
	flags uint64
}

// progLoadAttr is the head of union bpf_attr for BPF_PROG_LOAD.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              unsafe.Pointer
	license            unsafe.Pointer
	logLevel           uint32
	logSize            uint32
	logBuf             unsafe.Pointer
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		if errno == unix.EPERM {
			return -1, ErrNotPermitted
		}
		return -1, errno
	}
	return int(r), nil
}

func newSockArray(n int) (int, error) {
	attr := mapCreateAttr{
		mapType:    unix.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
		keySize:    4,
		valueSize:  8, // a socket descriptor as u64
		maxEntries: uint32(n),
	}
	fd, err := bpf(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("reuseport: create the socket map: %w", err)
	}
	return fd, nil
}

func mapUpdate(m int, key uint32, value uint64) error {
	attr := mapElemAttr{
		mapFD: uint32(m),
		key:   unsafe.Pointer(&key),
		value: unsafe.Pointer(&value),
	}
	_, err := bpf(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

func loadProgram(m, n int) (int, error) {
	code := program(m, n)
	license := []byte("GPL\x00") // bpf_sk_select_reuseport is not GPL-only; any string works
	log := make([]byte, 4096)
	attr := progLoadAttr{
		progType:           unix.BPF_PROG_TYPE_SK_REUSEPORT,
		insnCnt:            uint32(len(code)),
		insns:              unsafe.Pointer(&code[0]),
		license:            unsafe.Pointer(&license[0]),
		logLevel:           1,
		logSize:            uint32(len(log)),
		logBuf:             unsafe.Pointer(&log[0]),
		expectedAttachType: unix.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE,
	}
	copy(attr.progName[:], "throng_steer")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		if msg := unix.ByteSliceToString(log); msg != "" {
			return -1, fmt.Errorf("reuseport: load the program: %w: %s", err, msg)
		}
		return -1, fmt.Errorf("reuseport: load the program: %w", err)
	}
	return fd, nil
}
