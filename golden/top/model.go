// Package top is the golden model of the whole processor kvd_top
// (docs/microarch/processor.md §5): the front end, the glue, the key-hash
// unit, the reservation station, the hash-table engine, the slab allocator
// and the memory system, wired as §5 says. It has no logic of its own; it
// composes the blocks' golden models (golden/front, golden/glue,
// golden/keyhash, golden/rs, golden/htengine, golden/slab, golden/memsys).
//
// # Composition
//
// Every block's Step takes the inputs of a cycle and gives the outputs of
// that cycle, and the wiring is full of loops through handshakes (every
// pair of connected blocks exchanges a valid and a ready). But every output
// of every block depends on its state only (processor.md §3–§5, each
// block's document) — with one exception, kvd_rs's req_ready, which also
// depends on req_slot (rs.md §5), an output of the glue. Three blocks cut
// every loop: the glue (every loop through the front end, the key-hash
// unit or the station passes through it) and two of the engine, the slab
// allocator and the memory system (the triangle of the three). So in each
// cycle the model
//
//  1. takes the outputs of the glue, the engine and the memory system from
//     their state: the engine's and the memory system's Outputs methods
//     (golden/htengine, golden/memsys), and the glue's Outputs method when
//     it has one, else a probe (Snapshot, Step with all inputs zero,
//     Restore: all-zero inputs carry no transfer);
//  2. steps the front end, the key-hash unit, the station and the slab
//     allocator once each with their real inputs, which are now all known
//     (the top's inputs and the outputs of step 1; the station's req_slot
//     is the glue's, so its req_ready is exact);
//  3. steps the glue, the engine and the memory system with their real
//     inputs (the outputs of steps 1 and 2 and the top's inputs), and
//     checks that the outputs each Step gives equal those of step 1.
//
// Step 3's check makes the composition exact, not assumed: when it holds,
// every block was given in this cycle the outputs its neighbours really
// produce with the inputs they really get, as the wired RTL does. Should a
// block gain a combinational path from an input to an output, Step fails
// loudly instead of mis-composing.
package top

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/front"
	"github.com/kvdirect/kvd/golden/glue"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rs"
	"github.com/kvdirect/kvd/golden/slab"
)

// Module is the name of the block this model describes.
const Module = "kvd_top"

// Instance names (processor.md §5).
const (
	InstFront = "u_front"
	InstGlue  = "u_glue"
	InstHash  = "u_hash"
	InstRS    = "u_rs"
	InstHT    = "u_ht"
	InstSlab  = "u_slab"
	InstMem   = "u_mem"
)

// Sub-block indices.
const (
	bFront = iota
	bGlue
	bHash
	bRS
	bHT
	bSlab
	bMem
	nBlocks
)

var blockInst = [nBlocks]string{InstFront, InstGlue, InstHash, InstRS, InstHT, InstSlab, InstMem}
var blockModule = [nBlocks]string{"kvd_front", "kvd_glue", "kvd_keyhash", "kvd_rs", "kvd_ht", "kvd_slab", "kvd_memsys"}

// Sources of a block input besides another block's output.
const (
	srcTop  = -1 // the top's input of the same name
	srcZero = -2 // tied to 0
)

// driver names what drives input port name of block b (processor.md §5):
// a block and its output port, the top's input of the same name (srcTop),
// or the constant 0 (srcZero).
func driver(b int, name string) (src int, srcName string) {
	cut := func(prefix string) (string, bool) { return strings.CutPrefix(name, prefix) }
	switch b {
	case bFront: // rx_*, tx_* to the top's ports; iss_*, cpl_* to the glue's
		if strings.HasPrefix(name, "rx_") || strings.HasPrefix(name, "tx_") {
			return srcTop, name
		}
		return bGlue, name
	case bGlue:
		if strings.HasPrefix(name, "iss_") || strings.HasPrefix(name, "cpl_") {
			return bFront, name
		}
		if x, ok := cut("kh_out_"); ok { // u_hash's out_* → kh_out_*
			return bHash, "out_" + x
		}
		if x, ok := cut("rs_"); ok { // rs_X ↔ u_rs's X
			return bRS, x
		}
		if x, ok := cut("ht_"); ok { // ht_X ↔ u_ht's X
			return bHT, x
		}
	case bHash: // kh_in_* → u_hash's in_*
		if x, ok := cut("in_"); ok {
			return bGlue, "kh_in_" + x
		}
	case bRS:
		return bGlue, "rs_" + name
	case bHT:
		if x, ok := cut("req_"); ok {
			return bGlue, "ht_req_" + x
		}
		if name == "al_ready" { // u_slab.req_ready → al_ready
			return bSlab, "req_ready"
		}
		if x, ok := cut("al_rsp_"); ok { // u_slab.rsp_* → al_rsp_*
			return bSlab, "rsp_" + x
		}
		if x, ok := cut("mem_"); ok { // mem_* ↔ u_mem's c1_mem_*
			return bMem, "c1_mem_" + x
		}
	case bSlab:
		if x, ok := cut("req_"); ok { // al_valid, al_op, al_class, al_ptr → req_*
			return bHT, "al_" + x
		}
		if x, ok := cut("mem_"); ok { // mem_* ↔ u_mem's c0_mem_*
			return bMem, "c0_mem_" + x
		}
	case bMem:
		if x, ok := cut("c0_mem_"); ok {
			return bSlab, "mem_" + x
		}
		if x, ok := cut("c1_mem_"); ok {
			return bHT, "mem_" + x
		}
		if strings.HasPrefix(name, "c2_") { // client 2's inputs tied to 0
			return srcZero, ""
		}
		return srcTop, name
	}
	return srcZero - 1, ""
}

// unconnected reports the block outputs §5 leaves unconnected: client 2's
// of the memory system.
func unconnected(b int, name string) bool { return b == bMem && strings.HasPrefix(name, "c2_") }

// topPort reports whether a port of block b is one of the top's: the front
// end's rx_* and tx_*, the memory system's link, DRAM and flush ports.
func topPort(b int, name string) bool {
	switch b {
	case bFront:
		return strings.HasPrefix(name, "rx_") || strings.HasPrefix(name, "tx_")
	case bMem:
		return !isClientPort(name)
	}
	return false
}

// isClientPort reports whether a kvd_memsys port is a client's (c<k>_mem_*).
func isClientPort(name string) bool {
	if len(name) < 2 || name[0] != 'c' || name[1] < '0' || name[1] > '9' {
		return false
	}
	i := 1
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	return strings.HasPrefix(name[i:], "_mem_")
}

// Ports returns the ports of kvd_top for cfg (processor.md §5): the front
// end's rx_* and tx_* in its order (§3), then the memory system's link
// ports l0_* …, its dram_* and its flush_* in its order (memory.md §2,
// default client list), each with the sub-block port's name, direction,
// width and qualifier.
func Ports(cfg config.Config) []model.Port {
	return topPorts(front.Ports(cfg), memsys.Ports(memsys.DefaultParams(cfg)))
}

func topPorts(fp, mp []model.Port) []model.Port {
	var ports []model.Port
	for _, p := range fp {
		if topPort(bFront, p.Name) {
			p.Fields = slices.Clone(p.Fields)
			ports = append(ports, p)
		}
	}
	for _, p := range mp {
		if topPort(bMem, p.Name) {
			p.Fields = slices.Clone(p.Fields)
			ports = append(ports, p)
		}
	}
	return ports
}

// outputser is a block model that can give its outputs of the cycle from
// its state without stepping.
type outputser interface {
	Outputs(out []uint64)
}

// conn copies one port value: into a block's input from the top's input or
// another block's output, or into the top's output from a block's.
type conn struct {
	from            int // srcTop: the top's input vector; else a block
	src, dst, words int // word offsets in the two vectors; the port's words
}

// blk is one sub-block and its port vectors.
type blk struct {
	m       model.Model
	lay     *model.Layout
	in, out []uint64
	zero    []uint64 // all-zero inputs, for probes
	probe   []uint64 // outputs of step 1 (cut blocks)
	conns   []conn
	outf    outputser // nil: probe by Snapshot/Step/Restore
}

// Model is the cycle-accurate golden model of kvd_top.
type Model struct {
	Front *front.Model
	Glue  *glue.Model
	Hash  *keyhash.Model
	RS    *rs.Model
	HT    *htengine.Model
	Slab  *slab.Model
	Mem   *memsys.Model

	cfg   config.Config
	ports []model.Port
	lay   *model.Layout
	b     [nBlocks]blk
	outs  []conn // the top's outputs: block out (or probe) → out
	vec   [nBlocks][]uint64

	// station occupancy, counted on u_rs's ports
	rsReqValid, rsReqReady, rsRespValid int
	cycle                               uint64
	rsIn, rsMax                         int

	streams []model.HandshakeProbe // every valid/ready handshake, counted each cycle
}

// New builds the sub-models for cfg (failing with their errors) and wires
// them as processor.md §5 says. The station evaluates cfg's λs with
// golden/lambda.
func New(cfg config.Config) (*Model, error) {
	m := &Model{cfg: cfg}
	var err error
	if m.Front, err = front.New(cfg); err != nil {
		return nil, m.subErr(bFront, err)
	}
	if m.Glue, err = glue.New(cfg); err != nil {
		return nil, m.subErr(bGlue, err)
	}
	m.Hash = keyhash.New(cfg)
	ev, err := rs.NewLambdas(cfg)
	if err != nil {
		return nil, m.subErr(bRS, err)
	}
	if m.RS, err = rs.New(cfg, ev); err != nil {
		return nil, m.subErr(bRS, err)
	}
	if m.HT, err = htengine.New(cfg); err != nil {
		return nil, m.subErr(bHT, err)
	}
	if m.Slab, err = slab.New(cfg); err != nil {
		return nil, m.subErr(bSlab, err)
	}
	if m.Mem, err = memsys.NewFromConfig(cfg); err != nil {
		return nil, m.subErr(bMem, err)
	}
	subs := [nBlocks]model.Model{m.Front, m.Glue, m.Hash, m.RS, m.HT, m.Slab, m.Mem}
	for i := range m.b {
		b := &m.b[i]
		b.m = subs[i]
		if b.lay, err = model.NewLayout(b.m.Ports()); err != nil {
			return nil, m.subErr(i, err)
		}
		b.in, b.zero = make([]uint64, b.lay.InWords), make([]uint64, b.lay.InWords)
		b.out, b.probe = make([]uint64, b.lay.OutWords), make([]uint64, b.lay.OutWords)
		b.outf, _ = b.m.(outputser)
	}
	// What step 1 reads: the cut blocks' probes; the others' real outputs.
	for i := range m.vec {
		m.vec[i] = m.b[i].out
	}
	for _, i := range cut {
		m.vec[i] = m.b[i].probe
	}
	m.ports = topPorts(m.b[bFront].m.Ports(), m.b[bMem].m.Ports())
	if m.lay, err = model.NewLayout(m.ports); err != nil {
		return nil, fmt.Errorf("top: %v", err)
	}
	if err := m.connect(); err != nil {
		return nil, err
	}
	m.findStreams()
	rl := m.b[bRS].lay
	m.rsReqValid, m.rsReqReady, m.rsRespValid = rl.MustSlot("req_valid").Off, rl.MustSlot("req_ready").Off, rl.MustSlot("resp_valid").Off
	return m, nil
}

// cut are the blocks whose outputs step 1 takes from their state.
var cut = []int{bGlue, bHT, bMem}

// stepped are the blocks step 2 steps, in order; then step 3 steps cut.
var stepped = []int{bFront, bHash, bRS, bSlab}

// connect connects every block input to its driver (driver) and every top
// output to its block; it refuses a missing or doubly used port, a width
// mismatch, a direction mismatch, and a block output that drives nothing
// but those §5 leaves unconnected.
func (m *Model) connect() error {
	used := map[[2]int]bool{} // {block, output slot index}
	mark := func(b int, port int) {
		for k, t := range m.b[b].lay.Out {
			if t.Port == port {
				used[[2]int{b, k}] = true
			}
		}
	}
	for i := range m.b {
		b := &m.b[i]
		for _, s := range b.lay.In {
			name := b.lay.Ports[s.Port].Name
			src, sname := driver(i, name)
			switch {
			case src == srcZero:
				continue // b.in stays zero there
			case src == srcTop:
				ts, ok := m.lay.Slot(sname)
				if !ok || m.ports[ts.Port].Dir != model.In {
					return fmt.Errorf("top: %s's input %s: the top has no input %s", blockInst[i], name, sname)
				}
				if ts.Width != s.Width {
					return fmt.Errorf("top: %s's input %s is %d bits wide, the top's %d", blockInst[i], name, s.Width, ts.Width)
				}
				b.conns = append(b.conns, conn{srcTop, ts.Off, s.Off, s.Words})
			case src >= 0:
				ss, ok := m.b[src].lay.Slot(sname)
				if !ok || m.b[src].lay.Ports[ss.Port].Dir != model.Out {
					return fmt.Errorf("top: %s's input %s should be driven by %s's output %s (processor.md §5), which %s does not have",
						blockInst[i], name, blockInst[src], sname, blockModule[src])
				}
				if ss.Width != s.Width {
					return fmt.Errorf("top: %s's output %s is %d bits wide, %s's input %s %d",
						blockInst[src], sname, ss.Width, blockInst[i], name, s.Width)
				}
				b.conns = append(b.conns, conn{src, ss.Off, s.Off, s.Words})
				mark(src, ss.Port)
			default:
				return fmt.Errorf("top: %s's input %s: processor.md §5 connects it to nothing", blockInst[i], name)
			}
		}
	}
	for _, s := range m.lay.Out {
		name := m.ports[s.Port].Name
		src := bMem
		if topPort(bFront, name) {
			src = bFront
		}
		bs := m.b[src].lay.MustSlot(name)
		m.outs = append(m.outs, conn{src, bs.Off, s.Off, s.Words})
		mark(src, bs.Port)
	}
	for i := range m.b {
		for k, s := range m.b[i].lay.Out {
			name := m.b[i].lay.Ports[s.Port].Name
			if !used[[2]int{i, k}] && !unconnected(i, name) {
				return fmt.Errorf("top: %s's output %s drives nothing", blockInst[i], name)
			}
		}
	}
	return nil
}

func (m *Model) subErr(i int, err error) error {
	return fmt.Errorf("top: %s (%s): %w", blockInst[i], blockModule[i], err)
}

// Ports implements model.Model; the caller gets its own copy.
func (m *Model) Ports() []model.Port {
	ports := slices.Clone(m.ports)
	for i := range ports {
		ports[i].Fields = slices.Clone(ports[i].Fields)
	}
	return ports
}

// Reset resets every block (kvd_top has no register of its own).
func (m *Model) Reset() {
	for i := range m.b {
		m.b[i].m.Reset()
	}
	m.cycle, m.rsIn, m.rsMax = 0, 0, 0
	for k := range m.streams {
		m.streams[k].Fire, m.streams[k].Stall = 0, 0
	}
}

// gather fills block i's input vector from its drivers.
func (m *Model) gather(i int, in []uint64) {
	b := &m.b[i]
	for _, w := range b.conns {
		src := in
		if w.from >= 0 {
			src = m.vec[w.from]
		}
		copy(b.in[w.dst:w.dst+w.words], src[w.src:w.src+w.words])
	}
}

// outputs fills cut block i's probe with its outputs of this cycle,
// leaving its state as it was.
func (m *Model) outputs(i int) error {
	b := &m.b[i]
	if b.outf != nil {
		b.outf.Outputs(b.probe)
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

// Step implements model.Model (microarch.md §1.1); see the package comment
// for how the blocks' cycles are composed. Every output is written even
// when an error is returned.
func (m *Model) Step(in, out []uint64) error {
	// 1. The cut blocks' outputs, from their state.
	var err error
	for _, i := range cut {
		if e := m.outputs(i); e != nil && err == nil {
			err = e
		}
	}
	// 2. The other blocks, with their real inputs.
	for _, i := range stepped {
		b := &m.b[i]
		m.gather(i, in)
		if e := b.m.Step(b.in, b.out); e != nil && err == nil {
			err = m.subErr(i, e)
		}
	}
	// The top's outputs, all known now.
	for _, w := range m.outs {
		copy(out[w.dst:w.dst+w.words], m.vec[w.from][w.src:w.src+w.words])
	}
	if err != nil {
		return err
	}
	m.count()
	// 3. The cut blocks, with their real inputs; their outputs must be
	// those of step 1.
	for _, i := range cut {
		b := &m.b[i]
		m.gather(i, in)
		if err := b.m.Step(b.in, b.out); err != nil {
			return m.subErr(i, err)
		}
		if !slices.Equal(b.out, b.probe) {
			return fmt.Errorf("top: %s (%s): outputs %s with this cycle's inputs, %s from its state: the block's outputs must depend on its state only (processor.md §3–§5), which this composition relies on",
				blockInst[i], blockModule[i], m.describeOut(i, b.out), m.describeOut(i, b.probe))
		}
	}
	for k := range m.streams {
		m.streams[k].Count()
	}
	m.cycle++
	return nil
}

// count keeps the station's occupancy: requests taken on u_rs's req port
// and not yet answered on its resp port.
func (m *Model) count() {
	r := &m.b[bRS]
	if r.in[m.rsReqValid]&1 != 0 && r.out[m.rsReqReady]&1 != 0 {
		m.rsIn++
	}
	if r.out[m.rsRespValid]&1 != 0 {
		m.rsIn--
	}
	m.rsMax = max(m.rsMax, m.rsIn)
}

// findStreams lists the handshakes, each seen from the block that takes
// it (its input X_valid beside its output X_ready), but those §5 ties off;
// and those a block offers to the outside (its output X_valid beside an
// input X_ready driven by the top). Both vectors are the blocks' own,
// final in a cycle once Step has checked the cut blocks. Where the
// pipeline is held back is a question of the handshakes, not of any one
// block's rules: a bench reads the first one held back along it.
func (m *Model) findStreams() {
	for i := range m.b {
		b := &m.b[i]
		m.streams = append(m.streams, model.TakenHandshakes(blockInst[i]+".", b.lay, b.in, b.out, func(valid string) bool {
			src, _ := driver(i, valid)
			return src != srcZero // a client §5 leaves unconnected
		})...)
		for _, s := range b.lay.Out {
			name := b.lay.Ports[s.Port].Name
			stem, ok := strings.CutSuffix(name, "_valid")
			if !ok || s.Width != 1 || !topPort(i, name) {
				continue
			}
			if r, ok := b.lay.Slot(stem + "_ready"); ok && b.lay.Ports[r.Port].Dir == model.In {
				m.streams = append(m.streams, model.NewHandshakeProbe(blockInst[i]+"."+stem+" (out)", &b.out[s.Off], &b.in[r.Off]))
			}
		}
	}
}

// Streams are the counts of every handshake since reset, in a fixed order:
// blocks as processor.md §5 lists them, then ports as each declares them,
// then the front end's inner ones (golden/front), named u_front.u_rob.d
// and the like.
func (m *Model) Streams() []model.Handshake {
	out := make([]model.Handshake, 0, len(m.streams)+4)
	for _, s := range m.streams {
		out = append(out, s.Handshake)
	}
	for _, h := range m.Front.Streams() {
		h.Name = InstFront + "." + h.Name
		out = append(out, h)
	}
	return out
}

// describeOut lists the output ports of block i where out differs from
// the other of its two vectors (its Step's and its probe's).
func (m *Model) describeOut(i int, out []uint64) string {
	b := &m.b[i]
	var s []string
	for _, t := range b.lay.Out {
		if !slices.Equal(b.out[t.Off:t.Off+t.Words], b.probe[t.Off:t.Off+t.Words]) {
			s = append(s, b.lay.Ports[t.Port].Name+"="+model.Hex(out[t.Off:t.Off+t.Words], t.Width))
		}
	}
	return strings.Join(s, " ")
}

// Cycle is the number of cycles stepped since reset.
func (m *Model) Cycle() uint64 { return m.cycle }

// Config is the configuration the model was built for.
func (m *Model) Config() config.Config { return m.cfg }

// StationOccupancy is the number of requests the station (u_rs) has taken
// and not yet answered, and the most there were at once since reset
// (counted on its req and resp ports).
func (m *Model) StationOccupancy() (now, peak int) { return m.rsIn, m.rsMax }

// ROBOccupancy is the number of the reorder buffer's entries in use.
func (m *Model) ROBOccupancy() int { return m.Front.Rob.Occupancy() }

// EngineStats are the engine's counters (memory accesses, hashtable.md §5).
func (m *Model) EngineStats() htengine.Stats { return m.HT.Stats() }

// DescribeState describes every block's registers, labelled with their
// instance names, for divergence and hang reports.
func (m *Model) DescribeState() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cycle %d; station holds %d requests (peak %d)", m.cycle, m.rsIn, m.rsMax)
	for i := range m.b {
		fmt.Fprintf(&b, "\n%s: ", blockInst[i])
		if d, ok := m.b[i].m.(interface{ DescribeState() string }); ok {
			b.WriteString(d.DescribeState())
		} else {
			b.WriteString("(no description)")
		}
	}
	return b.String()
}

// snapshot is every block's snapshot (each an independent copy) and the
// model's counters.
type snapshot struct {
	b           [nBlocks]any
	cycle       uint64
	rsIn, rsMax int
	streams     []model.Handshake
}

// Snapshot implements model.Model.
func (m *Model) Snapshot() any {
	s := snapshot{cycle: m.cycle, rsIn: m.rsIn, rsMax: m.rsMax, streams: make([]model.Handshake, len(m.streams))}
	for k := range m.streams {
		s.streams[k] = m.streams[k].Handshake
	}
	for i := range m.b {
		s.b[i] = m.b[i].m.Snapshot()
	}
	return s
}

// Restore implements model.Model.
func (m *Model) Restore(snap any) {
	s, ok := snap.(snapshot)
	if !ok {
		panic(fmt.Sprintf("top: Restore of a %T, not a top snapshot", snap))
	}
	for i := range m.b {
		m.b[i].m.Restore(s.b[i])
	}
	m.cycle, m.rsIn, m.rsMax = s.cycle, s.rsIn, s.rsMax
	for k := range m.streams {
		m.streams[k].Handshake = s.streams[k]
	}
}

var _ model.Model = (*Model)(nil)
