package keyhash

import (
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
)

// Latency is the key-hash unit's latency in cycles (§2.1).
const Latency = 3

// TagBits is the width of in_tag / out_tag (§2.1).
const TagBits = 16

// stage is one pipeline register set. Only valid is a control register;
// the others are data registers, which reset leaves alone (§1.1).
type stage struct {
	valid             bool
	bucket, sec, slot uint64
	tag               uint64
}

// state is the whole model state; it holds no slices, so a copy is deep.
type state struct {
	pipe [Latency]stage
	head int // pipe[head] is the oldest entry: the outputs of this cycle
}

// Model is the cycle-accurate golden model of kvd_keyhash (§2).
type Model struct {
	h     *Hasher
	ports []model.Port

	// word offsets in the input and output vectors
	inValid, inKey, inKeyEnd, inLen, inTag       int
	outValid, outBucket, outSec, outSlot, outTag int
	lenMask                                      uint64

	st state
}

// Ports returns the ports of kvd_keyhash for cfg, in the order of §2.1.
func Ports(cfg config.Config) []model.Port {
	w := Widths(cfg)
	return []model.Port{
		{Name: "in_valid", Dir: model.In, Width: 1},
		{Name: "in_key", Dir: model.In, Width: 8 * cfg.Key.MaxKeyBytes},
		{Name: "in_len", Dir: model.In, Width: cfg.KeyLenBits()},
		{Name: "in_tag", Dir: model.In, Width: TagBits},
		{Name: "out_valid", Dir: model.Out, Width: 1},
		{Name: "out_bucket", Dir: model.Out, Width: w[FuncBucket], QualifiedBy: "out_valid"},
		{Name: "out_sec", Dir: model.Out, Width: w[FuncSec], QualifiedBy: "out_valid"},
		{Name: "out_slot", Dir: model.Out, Width: w[FuncSlot], QualifiedBy: "out_valid"},
		{Name: "out_tag", Dir: model.Out, Width: TagBits, QualifiedBy: "out_valid"},
	}
}

// New builds the model for cfg, in its reset state. It panics if cfg gives a
// port no width (memory.index_buckets = 1 makes B = 0) or an output wider
// than 64 bits; config.Validate does not rule the former out, but such a
// block has no Verilog port to compare.
func New(cfg config.Config) *Model {
	ports := Ports(cfg)
	lay, err := model.NewLayout(ports)
	if err != nil {
		panic("keyhash: " + err.Error())
	}
	m := &Model{h: NewHasher(cfg), ports: ports, lenMask: model.Mask(cfg.KeyLenBits())}
	m.inValid = lay.MustSlot("in_valid").Off
	key := lay.MustSlot("in_key")
	m.inKey, m.inKeyEnd = key.Off, key.Off+key.Words
	m.inLen = lay.MustSlot("in_len").Off
	m.inTag = lay.MustSlot("in_tag").Off
	m.outValid = lay.MustSlot("out_valid").Off
	m.outBucket = lay.MustSlot("out_bucket").Off
	m.outSec = lay.MustSlot("out_sec").Off
	m.outSlot = lay.MustSlot("out_slot").Off
	m.outTag = lay.MustSlot("out_tag").Off
	return m
}

// Hasher returns the model's hasher.
func (m *Model) Hasher() *Hasher { return m.h }

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port { return append([]model.Port(nil), m.ports...) }

// Reset clears the valid pipeline only (§2.1).
func (m *Model) Reset() {
	for i := range m.st.pipe {
		m.st.pipe[i].valid = false
	}
	m.st.head = 0
}

// Step implements model.Model (§1.1): the outputs of this cycle are the
// results of the inputs of three cycles ago; then this cycle's inputs enter
// the pipeline. The hash is computed whether or not in_valid is set, as the
// RTL's data registers would be; it allocates nothing.
func (m *Model) Step(in, out []uint64) error {
	s := &m.st.pipe[m.st.head]
	if s.valid {
		out[m.outValid] = 1
	} else {
		out[m.outValid] = 0
	}
	out[m.outBucket] = s.bucket
	out[m.outSec] = s.sec
	out[m.outSlot] = s.slot
	out[m.outTag] = s.tag

	// The oldest entry leaves; the new key takes its place.
	s.valid = in[m.inValid]&1 != 0
	s.bucket, s.sec, s.slot = m.h.Bus(in[m.inKey:m.inKeyEnd], in[m.inLen]&m.lenMask)
	s.tag = in[m.inTag] & (1<<TagBits - 1)
	if m.st.head++; m.st.head == Latency {
		m.st.head = 0
	}
	return nil
}

// DescribeState lists the keys in the pipeline, oldest first (their
// tags), for divergence and hang reports.
func (m *Model) DescribeState() string {
	var b strings.Builder
	b.WriteString("pipeline [")
	for i := range Latency {
		s := &m.st.pipe[(m.st.head+i)%Latency]
		if i > 0 {
			b.WriteByte(' ')
		}
		if s.valid {
			fmt.Fprintf(&b, "tag %d", s.tag)
		} else {
			b.WriteByte('-')
		}
	}
	b.WriteByte(']')
	return b.String()
}

// Snapshot implements model.Model; the value is an independent copy.
func (m *Model) Snapshot() any { return m.st }

// Restore implements model.Model.
func (m *Model) Restore(snapshot any) {
	st, ok := snapshot.(state)
	if !ok {
		panic(fmt.Sprintf("keyhash: Restore of a %T, not a keyhash snapshot", snapshot))
	}
	m.st = st
}

var _ model.Model = (*Model)(nil)
