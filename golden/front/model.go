// Package front is the golden model of the processor's packet front end
// kvd_front (docs/microarch/processor.md §3): the decoder kvd_dec, the
// reorder buffer kvd_rob and the encoder kvd_enc wired together, with the
// buffer's pipeline port brought out. It has no logic of its own; it
// composes the three blocks' golden models (golden/decoder, golden/rob,
// golden/encoder) exactly as §3 wires them.
//
// # Composition
//
// A sub-model's Step takes the inputs of a cycle and gives the outputs of
// that cycle, but the wiring has two loops through ready signals: the
// decoder's d_* drive the buffer, whose d_ready drives the decoder; the
// buffer's e_* drive the encoder, whose e_ready drives the buffer. Every
// output of the three blocks depends on their state only (§3; decoder.md
// §2, §4.1–§4.2; rob.md §2, §4.3–§4.4; encoder.md §2, §4.1, §4.3), so in
// each cycle the model
//
//  1. probes the decoder and the encoder: their Outputs methods, which
//     write the outputs of the cycle from the state without stepping (a
//     model without one would be probed by Snapshot, Step with all inputs
//     zero, keep the outputs, Restore: all-zero inputs carry no transfer,
//     so a probe never trips a sub-model's environment checks);
//  2. steps the buffer with its real inputs: d_* from the decoder's probe,
//     e_ready from the encoder's probe, iss_ready and cpl_* from outside;
//  3. steps the decoder (rx_* from outside, d_ready from the buffer) and
//     the encoder (e_* from the buffer, tx_ready from outside) with their
//     real inputs, and checks that their outputs equal the probes'.
//
// Step 3's check makes the composition exact, not assumed: when it holds,
// the values the buffer was given in step 2 are the outputs the decoder
// and the encoder produce with the inputs they really get, so the three
// Steps agree with one another as the wired RTL does. Should a future
// change give the decoder or the encoder a combinational path from an
// input to an output, Step fails loudly instead of mis-composing. (The
// buffer needs no probe: it is stepped once, with its real inputs, after
// the outputs it consumes are known.) Only the decoder and the encoder are
// probed because their snapshots are small (a window, two packet
// buffers), while the buffer's holds M values.
package front

import (
	"fmt"
	"slices"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/decoder"
	"github.com/kvdirect/kvd/golden/encoder"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rob"
)

// Module is the name of the block this model describes.
const Module = "kvd_front"

// Instance names (processor.md §3).
const (
	InstDec = "u_dec"
	InstRob = "u_rob"
	InstEnc = "u_enc"
)

// Sub-block indices.
const (
	bDec = iota
	bRob
	bEnc
	nBlocks
)

var blockInst = [nBlocks]string{InstDec, InstRob, InstEnc}
var blockModule = [nBlocks]string{decoder.Module, rob.Module, encoder.Module}

// external lists kvd_front's ports in the order of processor.md §3's
// table, each row in the order written, with the block whose port of the
// same name each one is.
var external = []struct {
	name  string
	block int
}{
	{"rx_valid", bDec}, {"rx_ready", bDec}, {"rx_data", bDec}, {"rx_keep", bDec},
	{"rx_last", bDec}, {"rx_len", bDec},
	{"iss_valid", bRob}, {"iss_ready", bRob}, {"iss_tag", bRob}, {"iss_op", bRob},
	{"iss_fid", bRob}, {"iss_klen", bRob}, {"iss_key", bRob}, {"iss_vlen", bRob},
	{"iss_value", bRob},
	{"cpl_valid", bRob}, {"cpl_tag", bRob}, {"cpl_status", bRob}, {"cpl_vlen", bRob},
	{"cpl_value", bRob},
	{"tx_valid", bEnc}, {"tx_ready", bEnc}, {"tx_data", bEnc}, {"tx_keep", bEnc},
	{"tx_last", bEnc},
}

// unconnected are the outputs of a block that drive nothing (§3: the
// encoder counts records itself).
var unconnected = map[string]bool{"d_index": true}

// subPorts returns the three blocks' ports for cfg.
func subPorts(cfg config.Config) [nBlocks][]model.Port {
	return [nBlocks][]model.Port{decoder.Ports(cfg), rob.Ports(cfg), encoder.Ports(cfg)}
}

func findPort(ports []model.Port, name string) (model.Port, bool) {
	for _, p := range ports {
		if p.Name == name {
			return p, true
		}
	}
	return model.Port{}, false
}

// Ports returns the ports of kvd_front for cfg, in the order of
// processor.md §3's table: each is the port of the same name of the block
// it connects to, with that port's direction, width and qualifier.
func Ports(cfg config.Config) []model.Port {
	sub := subPorts(cfg)
	ports := make([]model.Port, 0, len(external))
	for _, e := range external {
		p, ok := findPort(sub[e.block], e.name)
		if !ok {
			panic(fmt.Sprintf("front: %s has no port %s", blockModule[e.block], e.name))
		}
		p.Fields = slices.Clone(p.Fields)
		ports = append(ports, p)
	}
	return ports
}

// conn copies one port value: into a block's input from a kvd_front input
// or another block's output, or into a kvd_front output from a block's.
type conn struct {
	fromBlock       int // -1: kvd_front's input vector
	src, dst, words int // word offsets in the two vectors; the port's words
}

// blk is one sub-block and its port vectors.
type blk struct {
	m       model.Model
	lay     *model.Layout
	in, out []uint64
	zero    []uint64 // an all-zero input vector, for probes
	probe   []uint64 // the outputs of the cycle's probe
	conns   []conn   // where each input comes from
}

// Model is the cycle-accurate golden model of kvd_front.
type Model struct {
	Dec *decoder.Model
	Rob *rob.Model
	Enc *encoder.Model

	ports []model.Port
	lay   *model.Layout
	b     [nBlocks]blk
	outs  []conn // kvd_front's outputs: fromBlock's out vector → out

	// the handshakes between the three blocks (decoder → buffer →
	// encoder), counted each cycle; kvd_front's own ports are the
	// enclosing composition's to watch
	streams []model.HandshakeProbe
}

// New builds the three sub-models for cfg (failing with their errors) and
// wires them as processor.md §3 says.
func New(cfg config.Config) (*Model, error) {
	d, err := decoder.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("front: %s (%s): %w", InstDec, decoder.Module, err)
	}
	r, err := rob.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("front: %s (%s): %w", InstRob, rob.Module, err)
	}
	e, err := encoder.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("front: %s (%s): %w", InstEnc, encoder.Module, err)
	}
	m := &Model{Dec: d, Rob: r, Enc: e, ports: Ports(cfg)}
	if m.lay, err = model.NewLayout(m.ports); err != nil {
		return nil, fmt.Errorf("front: %v", err)
	}
	subs := [nBlocks]model.Model{d, r, e}
	for i := range m.b {
		b := &m.b[i]
		b.m = subs[i]
		if b.lay, err = model.NewLayout(b.m.Ports()); err != nil {
			return nil, fmt.Errorf("front: %s: %v", blockModule[i], err)
		}
		b.in, b.zero = make([]uint64, b.lay.InWords), make([]uint64, b.lay.InWords)
		b.out, b.probe = make([]uint64, b.lay.OutWords), make([]uint64, b.lay.OutWords)
	}
	if err := m.connect(); err != nil {
		return nil, err
	}
	m.findStreams()
	return m, nil
}

// connect connects every block input, by name (§3): to the kvd_front input
// of that name if the table lists it for this block, else to the one other
// block's output of that name. Every block output drives something but
// those §3 leaves unconnected. Connected ports must have equal widths.
func (m *Model) connect() error {
	extBlock := map[string]int{}
	for _, e := range external {
		extBlock[e.name] = e.block
	}
	used := map[[2]int]bool{} // {block, output slot index} that drive something
	for i := range m.b {
		b := &m.b[i]
		for _, s := range b.lay.In {
			p := b.lay.Ports[s.Port]
			if eb, ok := extBlock[p.Name]; ok && eb == i {
				fs := m.lay.MustSlot(p.Name)
				b.conns = append(b.conns, conn{-1, fs.Off, s.Off, s.Words})
				continue
			}
			src := -1
			var ss model.Slot
			for j := range m.b {
				if j == i {
					continue
				}
				if t, ok := m.b[j].lay.Slot(p.Name); ok && m.b[j].lay.Ports[t.Port].Dir == model.Out {
					if src >= 0 {
						return fmt.Errorf("front: %s's input %s has two drivers, %s and %s", blockModule[i], p.Name, blockModule[src], blockModule[j])
					}
					src, ss = j, t
				}
			}
			if src < 0 {
				return fmt.Errorf("front: %s's input %s is driven by nothing", blockModule[i], p.Name)
			}
			if ss.Width != s.Width {
				return fmt.Errorf("front: %s's output %s is %d bits wide, %s's input %d", blockModule[src], p.Name, ss.Width, blockModule[i], s.Width)
			}
			b.conns = append(b.conns, conn{src, ss.Off, s.Off, s.Words})
			for k, t := range m.b[src].lay.Out {
				if t.Port == ss.Port {
					used[[2]int{src, k}] = true
				}
			}
		}
	}
	for _, s := range m.lay.Out {
		name := m.ports[s.Port].Name
		eb := extBlock[name]
		bs := m.b[eb].lay.MustSlot(name)
		m.outs = append(m.outs, conn{eb, bs.Off, s.Off, s.Words})
		for k, t := range m.b[eb].lay.Out {
			if t.Port == bs.Port {
				used[[2]int{eb, k}] = true
			}
		}
	}
	for i := range m.b {
		for k, s := range m.b[i].lay.Out {
			name := m.b[i].lay.Ports[s.Port].Name
			if !used[[2]int{i, k}] && !unconnected[name] {
				return fmt.Errorf("front: %s's output %s drives nothing", blockModule[i], name)
			}
		}
	}
	return nil
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port {
	ports := slices.Clone(m.ports)
	for i := range ports {
		ports[i].Fields = slices.Clone(ports[i].Fields)
	}
	return ports
}

// Reset resets the three blocks (kvd_front has no register of its own).
func (m *Model) Reset() {
	for i := range m.b {
		m.b[i].m.Reset()
	}
	for k := range m.streams {
		m.streams[k].Fire, m.streams[k].Stall = 0, 0
	}
}

// findStreams watches each handshake one block takes from another (the
// buffer's d_*, the encoder's e_*), on the blocks' final vectors of a
// cycle.
func (m *Model) findStreams() {
	for i := range m.b {
		b := &m.b[i]
		m.streams = append(m.streams, model.TakenHandshakes(blockInst[i]+".", b.lay, b.in, b.out, func(valid string) bool {
			for _, e := range external {
				if e.block == i && e.name == valid {
					return false // kvd_front's own port
				}
			}
			return true
		})...)
	}
}

// Streams are the counts of the handshakes between the three blocks since
// reset, named by the block that takes them (u_rob.d, u_enc.e).
func (m *Model) Streams() []model.Handshake {
	out := make([]model.Handshake, len(m.streams))
	for i, s := range m.streams {
		out[i] = s.Handshake
	}
	return out
}

// gather fills block i's input vector from its drivers: kvd_front's inputs
// and the other blocks' outputs of this cycle (outs).
func (m *Model) gather(i int, in []uint64, outs [nBlocks][]uint64) {
	b := &m.b[i]
	for _, w := range b.conns {
		src := in
		if w.fromBlock >= 0 {
			src = outs[w.fromBlock]
		}
		copy(b.in[w.dst:w.dst+w.words], src[w.src:w.src+w.words])
	}
}

// probeOutputs fills block i's probe vector with its outputs of this
// cycle, leaving its state as it was: the block's Outputs method when it
// has one (the decoder and the encoder do), else Snapshot, Step with all
// inputs zero, Restore.
func (m *Model) probeOutputs(i int) error {
	b := &m.b[i]
	if o, ok := b.m.(interface{ Outputs(out []uint64) }); ok {
		o.Outputs(b.probe)
		return nil
	}
	snap := b.m.Snapshot()
	err := b.m.Step(b.zero, b.probe)
	b.m.Restore(snap)
	if err != nil {
		return m.subErr(i, err)
	}
	return nil
}

func (m *Model) subErr(i int, err error) error {
	return fmt.Errorf("front: %s (%s): %w", blockInst[i], blockModule[i], err)
}

// Step implements model.Model (microarch.md §1.1); see the package comment
// for how the three blocks' cycles are composed. Every output is written
// even when an error is returned.
func (m *Model) Step(in, out []uint64) error {
	dec, rb, enc := &m.b[bDec], &m.b[bRob], &m.b[bEnc]

	// 1. The decoder's and the encoder's outputs, from their state.
	if err := m.probeOutputs(bDec); err != nil {
		return err
	}
	if err := m.probeOutputs(bEnc); err != nil {
		return err
	}

	// 2. The buffer, with its real inputs.
	m.gather(bRob, in, [nBlocks][]uint64{bDec: dec.probe, bEnc: enc.probe})
	robErr := rb.m.Step(rb.in, rb.out)

	// kvd_front's outputs, all known now.
	outs := [nBlocks][]uint64{bDec: dec.probe, bRob: rb.out, bEnc: enc.probe}
	for _, w := range m.outs {
		copy(out[w.dst:w.dst+w.words], outs[w.fromBlock][w.src:w.src+w.words])
	}
	if robErr != nil {
		return m.subErr(bRob, robErr)
	}

	// 3. The decoder and the encoder, with their real inputs; their
	// outputs must be the probes'.
	for _, i := range []int{bDec, bEnc} {
		b := &m.b[i]
		m.gather(i, in, outs)
		if err := b.m.Step(b.in, b.out); err != nil {
			return m.subErr(i, err)
		}
		if !slices.Equal(b.out, b.probe) {
			return fmt.Errorf("front: %s (%s): outputs %s with this cycle's inputs, %s with all inputs zero: the block's outputs must depend on its state only (processor.md §3), which this composition relies on",
				blockInst[i], blockModule[i], m.describeOut(i, b.out), m.describeOut(i, b.probe))
		}
	}
	for k := range m.streams {
		m.streams[k].Count()
	}
	return nil
}

// describeOut lists the output ports of block i that differ from its probe.
func (m *Model) describeOut(i int, out []uint64) string {
	b := &m.b[i]
	s := ""
	for _, t := range b.lay.Out {
		if !slices.Equal(b.out[t.Off:t.Off+t.Words], b.probe[t.Off:t.Off+t.Words]) {
			if s != "" {
				s += " "
			}
			s += b.lay.Ports[t.Port].Name + "=" + model.Hex(out[t.Off:t.Off+t.Words], t.Width)
		}
	}
	return s
}

// DescribeState describes the three blocks' registers, labelled with their
// instance names, for divergence reports.
func (m *Model) DescribeState() string {
	return fmt.Sprintf("%s: %s; %s: %s; %s: %s",
		InstDec, m.Dec.DescribeState(), InstRob, m.Rob.DescribeState(), InstEnc, m.Enc.DescribeState())
}

// snapshot is the three blocks' snapshots (each an independent copy) and
// the handshake counts.
type snapshot struct {
	b       [nBlocks]any
	streams []model.Handshake
}

// Snapshot implements model.Model.
func (m *Model) Snapshot() any {
	s := snapshot{streams: m.Streams()}
	for i := range m.b {
		s.b[i] = m.b[i].m.Snapshot()
	}
	return s
}

// Restore implements model.Model.
func (m *Model) Restore(snap any) {
	s, ok := snap.(snapshot)
	if !ok {
		panic(fmt.Sprintf("front: Restore of a %T, not a front snapshot", snap))
	}
	for i := range m.b {
		m.b[i].m.Restore(s.b[i])
	}
	for k := range m.streams {
		m.streams[k].Handshake = s.streams[k]
	}
}

var _ model.Model = (*Model)(nil)
