// Package wire is the bridge's binary protocol between the Go driver and the
// generated C++ shim. Everything is little-endian with fixed layouts, so both
// sides decode frames with plain loads, no reflection.
//
// Connection:
//
//	shim → Go   hello:  "KVDSHIM1" u32 abi, str model_hash, str top, str verilator,
//	                    u32 nports, nports × {u8 dir, u32 width, str name}
//	Go → shim   start:  "KVDGO001" u32 reset_cycles, u64 trace_from, u64 trace_to, str trace_path
//	Go → shim   frame:  u32 kind=Inputs, u32 n, n × in_words × u64
//	shim → Go   frame:  u32 kind=Outputs, u32 n, u64 eval_ns, n × out_words × u64
//	Go → shim   finish: u32 kind=Finish, u32 0
//	shim → Go   stats:  u32 kind=Stats, u32 0, u64 cycles, u64 eval_ns
//
// str is u32 length + bytes. Port values occupy ceil(width/64) words each, in
// the order of the hello's port list, inputs and outputs in separate vectors.
package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"
)

// Magic strings open each direction of a connection.
const (
	ShimMagic = "KVDSHIM1"
	GoMagic   = "KVDGO001"
)

// Frame kinds.
const (
	KindInputs  uint32 = 1
	KindOutputs uint32 = 2
	KindFinish  uint32 = 3
	KindStats   uint32 = 4
)

// Port is a port as the shim announces it.
type Port struct {
	Name  string
	Dir   uint8 // 0 input, 1 output
	Width int
}

// Hello is the shim's announcement.
type Hello struct {
	ABI       uint32
	ModelHash string
	Top       string
	Verilator string
	Ports     []Port
}

// ReadHello decodes the shim's hello.
func ReadHello(r io.Reader) (Hello, error) {
	var h Hello
	magic := make([]byte, len(ShimMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return h, fmt.Errorf("reading hello: %w", err)
	}
	if string(magic) != ShimMagic {
		return h, fmt.Errorf("peer is not a kvd shim (magic %q)", magic)
	}
	var err error
	u32 := func() uint32 {
		var b [4]byte
		if err == nil {
			_, err = io.ReadFull(r, b[:])
		}
		return binary.LittleEndian.Uint32(b[:])
	}
	str := func() string {
		n := u32()
		if err != nil || n > 1<<16 {
			if err == nil {
				err = fmt.Errorf("string of %d bytes in hello", n)
			}
			return ""
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return string(b)
	}
	h.ABI = u32()
	h.ModelHash = str()
	h.Top = str()
	h.Verilator = str()
	n := u32()
	if err == nil && n > 1<<12 {
		err = fmt.Errorf("%d ports in hello", n)
	}
	for i := 0; err == nil && i < int(n); i++ {
		var d [1]byte
		_, err = io.ReadFull(r, d[:])
		w := u32()
		name := str()
		h.Ports = append(h.Ports, Port{Name: name, Dir: d[0], Width: int(w)})
	}
	return h, err
}

// WriteStart sends the driver's start message.
func WriteStart(w io.Writer, resetCycles uint32, traceFrom, traceTo uint64, tracePath string) error {
	var b []byte
	b = append(b, GoMagic...)
	b = binary.LittleEndian.AppendUint32(b, resetCycles)
	b = binary.LittleEndian.AppendUint64(b, traceFrom)
	b = binary.LittleEndian.AppendUint64(b, traceTo)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tracePath)))
	b = append(b, tracePath...)
	_, err := w.Write(b)
	return err
}

// WriteFrame sends n cycles of inputs.
func WriteFrame(w *bufio.Writer, kind uint32, n int, words []uint64) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], kind)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(n))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(Bytes(words)); err != nil {
		return err
	}
	return w.Flush()
}

// ReadHeader reads a shim frame header: kind, cycle count and the
// nanoseconds the shim spent evaluating (or, for Stats, total cycles).
func ReadHeader(r io.Reader) (kind uint32, n uint32, a, b uint64, err error) {
	var hdr [16]byte
	if _, err = io.ReadFull(r, hdr[:16]); err != nil {
		return
	}
	kind = binary.LittleEndian.Uint32(hdr[0:])
	n = binary.LittleEndian.Uint32(hdr[4:])
	a = binary.LittleEndian.Uint64(hdr[8:])
	if kind == KindStats {
		var more [8]byte
		if _, err = io.ReadFull(r, more[:]); err != nil {
			return
		}
		b = binary.LittleEndian.Uint64(more[:])
	}
	return
}

// Bytes views words as their little-endian bytes without copying. The bridge
// runs on little-endian hosts only (checked at start-up).
func Bytes(words []uint64) []byte {
	if len(words) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
}

// LittleEndian reports whether this host stores words little-endian, which
// the zero-copy frames require.
func LittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
