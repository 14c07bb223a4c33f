package testbenches

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/cosim"
	"github.com/kvdirect/kvd/golden/dram"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/golden/memsys"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/pcie"
	"github.com/kvdirect/kvd/golden/refstore"
	"github.com/kvdirect/kvd/golden/rs"
	"github.com/kvdirect/kvd/golden/slabd"
	"github.com/kvdirect/kvd/golden/top"
	"github.com/kvdirect/kvd/testbenches/workload"
	"github.com/kvdirect/kvd/wire"
)

// The processor scenario (processor.md §5): a client sends batched request
// packets on rx and takes response packets from tx; behind the processor,
// host memory sits behind the PCIe link models, the on-board DRAM behind
// its model, and the host slab daemon polls its rings in host memory. The
// table is preloaded through the backdoor to the workload's utilization.
// Every response packet is checked byte for byte against wire.Respond of
// its request executed on golden/refstore in request order — so every
// request is answered exactly once, per-key order holds, and each result
// is the one the untimed store gives. At the end the processor is drained,
// the DRAM cache flushed, and the table checker compares host memory with
// the reference map.

// ProcSpec is one processor run's client side.
type ProcSpec struct {
	Mix     workload.Mix
	Dist    workload.Dist
	KVBytes int
	// Util is the preloaded memory utilization of the preload region.
	Util float64
	// Ops is the number of operations to send (0: until the run stops).
	Ops uint64
	// Extra adds DELETEs and vector operations (each this fraction) to
	// the YCSB mix, for coverage.
	Extra float64
	// BatchOps bounds the operations per request packet.
	BatchOps int
	// Gaps: the client pauses between packets now and then, and holds
	// tx_ready low now and then (back-pressure on every port).
	Gaps bool
}

func init() {
	register(Scenario{
		Name: "proc",
		Doc: "the whole processor: batched YCSB-style requests with atomics, deletes and vector operations over a preloaded table, " +
			"host memory behind PCIe and DRAM models, the slab daemon; every response checked against wire.Respond on the reference store; table checked at the end",
		Top:           func(config.Config) string { return "kvd_top" },
		DefaultCycles: 2_000_000,
		New: func(cfg config.Config, seed uint64) (model.Model, cosim.Stimulus, error) {
			m, s, err := NewProc(cfg, seed, ProcMixed(seed))
			if err != nil {
				return nil, nil, err
			}
			return m, s, nil
		},
		Points: procPoints,
		Heavy:  true,
	})
}

var procPoints = []string{
	"proc.get_hit", "proc.get_miss", "proc.put", "proc.delete", "proc.atomic", "proc.vector", "proc.lambda_fault",
	"proc.long_value", "proc.split_response", "proc.rx_backpressure", "proc.tx_backpressure", "proc.flushed", "proc.checked",
}

// ProcMixed is the regression's mix: YCSB reads and updates with atomics,
// plus deletes and vector operations, at a KV size drawn from the paper's.
func ProcMixed(seed uint64) ProcSpec {
	rng := rand.New(rand.NewPCG(seed, 0x70726f63))
	dist := workload.Zipf
	if rng.IntN(2) == 0 {
		dist = workload.Uniform
	}
	// Consecutive seeds alternate between out-of-line KVs (long values
	// through the glue, packets of 64 whose responses split) and inline
	// ones (forwarding), so any two seeds cover both.
	kv := workload.KVSizes[(3*seed)%uint64(len(workload.KVSizes))]
	batch := 1 + rng.IntN(32)
	if kv > cfgInlineMax {
		batch = 64
	}
	return ProcSpec{
		Mix:  workload.Mix{Name: "mixed", Get: 0.55, Put: 0.3, Atomic: 0.15},
		Dist: dist, KVBytes: kv,
		Util: 0.5, Extra: 0.03, BatchOps: batch, Gaps: true,
		// enough to exercise everything, few enough that a 200 k-cycle
		// quick run drains, flushes and checks the table
		Ops: 1500,
	}
}

// cfgInlineMax is the presets' bucket.inline_threshold: larger KVs are
// stored out of line.
const cfgInlineMax = 50

// procMaxPreload caps the preloaded KV bytes (ProcSpec.Util).
const procMaxPreload = 8 << 20

// procQuiet is the wait between the last response and the flush.
const procQuiet = 10_000

type procPkt struct {
	n      uint64
	bytes  []byte
	ops    int
	resp   [][]byte // the response packets owed, in order
	sentAt uint64   // cycle its last beat was taken
}

// ProcStats are what a run measured.
type ProcStats struct {
	Ops, Packets       uint64
	FirstCycle, Cycles uint64 // first response, last response
	Latency            []uint64
	PCIeReads          uint64
	PCIeWrites         uint64
	DRAMReads          uint64
	DRAMWrites         uint64
	Keys               int
	KVBytes            int
	Util               float64 // the preload's memory utilization
	Checked            bool    // the table in host memory equalled the reference after the flush

	// Where the time went, from the golden processor at the last answer:
	// the engine's counters (its contexts by phase, its read beats) and
	// the cycles in which the memory system's cache path had a request
	// waiting on its pending table (memory.md §4.4).
	Engine          htengine.Stats
	MemHazardStalls uint64
	// Every valid/ready handshake between the blocks (and out of the
	// processor): the cycles it transferred and the cycles its taker held
	// it back (golden/top).
	Streams []model.Handshake
	// The cycles the station's arrival stage held a request, by the term
	// of rs.md §10.1 B that held it.
	StationWaits rs.Waits
}

type procStim struct {
	cfg  config.Config
	spec ProcSpec
	rng  *rand.Rand
	b    int
	p    map[string]model.Slot
	in   []uint64 // the inputs given last

	host   *hostmem.Memory
	links  []*pcie.Link
	dram   *dram.DRAM
	daemon *slabd.Daemon
	ref    *refstore.Store
	top    *top.Model // the golden processor, for ProcStats' breakdown
	wp     wire.Params

	w      *workload.Workload
	stream *workload.Stream
	batch  *wire.Batcher
	sent   uint64 // operations put in packets
	npkts  uint64

	cur      *procPkt
	beat     int
	holdFrom uint64
	owed     []*procPkt // sent, not fully answered
	got      []byte
	txHold   uint64

	phase     int // 0 traffic, 1 drain, 2 flush, 3 done
	flushOn   bool
	quietFrom uint64

	st      ProcStats
	opsDone atomic.Uint64 // st.Ops, for a progress line from another goroutine
	pts     map[string]uint64
	err     error
}

// NewProc builds the golden processor and the stimulus of spec.
func NewProc(cfg config.Config, seed uint64, spec ProcSpec) (model.Model, *procStim, error) {
	m, err := newProcModel(cfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := newProcStim(cfg, seed, spec, m.Ports())
	if err != nil {
		return nil, nil, err
	}
	s.top, _ = m.(*top.Model)
	return m, s, nil
}

func newProcStim(cfg config.Config, seed uint64, spec ProcSpec, ports []model.Port) (*procStim, error) {
	l, err := model.NewLayout(ports)
	if err != nil {
		return nil, err
	}
	s := &procStim{cfg: cfg, spec: spec, rng: rand.New(rand.NewPCG(seed, 0x70726f63)), b: cfg.Net.BytesPerCycle,
		p: map[string]model.Slot{}, in: make([]uint64, l.InWords), pts: map[string]uint64{},
		wp: workload.WireParams(cfg)}
	for _, pt := range ports {
		s.p[pt.Name] = l.MustSlot(pt.Name)
	}
	if spec.BatchOps < 1 {
		spec.BatchOps, s.spec.BatchOps = 1, 1
	}

	// Host memory: the index, the slab rings, the daemon's heap, and at
	// the top a preload region that the backdoor preload allocates from,
	// sized so that the index is the share of the table hashtable.md §6
	// gives the KV size (1/2 for inline KVs, 1/8 for out-of-line ones: the
	// ratios of the access-count bench), at most half of the heap.
	s.host = hostmem.New(cfg.Memory.HostBytes)
	ratio := 0.125
	if spec.KVBytes <= cfg.Bucket.InlineThreshold {
		ratio = 0.5
	}
	region := int64(float64(cfg.IndexBytes())*(1-ratio)/ratio) &^ 4095
	region = min(region, (cfg.Memory.HostBytes-cfg.HeapBase())/2&^4095)
	base := cfg.Memory.HostBytes - region
	if base <= cfg.HeapBase() {
		return nil, fmt.Errorf("proc: memory.host_bytes = %d leaves no heap below a %d B preload region", cfg.Memory.HostBytes, region)
	}
	pre, err := hashtable.NewSimpleAllocatorAt(cfg, base, region)
	if err != nil {
		return nil, err
	}
	tb, err := hashtable.New(cfg, s.host, pre)
	if err != nil {
		return nil, err
	}
	// A paper-sized table at 50 % is billions of KVs: the preload is
	// capped at procMaxPreload bytes of KVs, so the paper preset runs at a
	// lower utilization (its timing, not its capacity, is what it tests).
	util := min(spec.Util, float64(procMaxPreload)/float64(tb.TableBytes()))
	s.w, err = workload.New(cfg, workload.Spec{Mix: spec.Mix, Dist: spec.Dist, KVBytes: spec.KVBytes, Seed: seed,
		Utilization: util, TableBytes: tb.TableBytes()})
	if err != nil {
		return nil, err
	}
	if _, err := hashtable.Preload(tb, s.w.PreloadSpec()); err != nil {
		return nil, fmt.Errorf("proc: preload: %v", err)
	}
	s.st.Keys, s.st.KVBytes, s.st.Util = s.w.Keys(), spec.KVBytes, util
	if s.ref, err = refstore.New(cfg); err != nil {
		return nil, err
	}
	s.ref.M = tb.Ref()
	s.stream = s.w.Stream()
	if s.daemon, err = slabd.New(cfg, s.host, slabd.Options{HeapBytes: base - cfg.HeapBase()}); err != nil {
		return nil, err
	}
	hc := memsys.HostConfigFrom(cfg, memsys.DefaultParams(cfg), seed)
	for _, lc := range hc.Link {
		s.links = append(s.links, pcie.New(lc, s.host))
	}
	s.dram = dram.New(hc.DRAM)
	if s.batch, err = wire.NewBatcher(wire.DefaultMaxResponseBytes, spec.BatchOps, uint32(seed)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *procStim) get(v []uint64, name string) uint64 {
	sl := s.p[name]
	return model.Get(v[sl.Off:sl.Off+sl.Words], 0, min(64, sl.Width))
}

func (s *procStim) put(in []uint64, name string, v uint64) {
	sl := s.p[name]
	in[sl.Off] = v & model.Mask(min(64, sl.Width))
}

func (s *procStim) words(v []uint64, name string) []uint64 {
	sl := s.p[name]
	return v[sl.Off : sl.Off+sl.Words]
}

// nextOp draws the next operation: the workload's, or now and then a
// DELETE or a vector operation on one of its keys.
func (s *procStim) nextOp() wire.Op {
	op := s.stream.Next()
	if s.spec.Extra <= 0 {
		return op
	}
	u := s.rng.Float64()
	switch {
	case u < s.spec.Extra:
		return wire.Delete(op.Key)
	case u < 2*s.spec.Extra:
		code := wire.OpUpdateS2V + wire.Opcode(s.rng.IntN(4))
		fid := uint8(s.rng.IntN(len(s.cfg.Atomic.Lambdas)))
		if s.rng.IntN(16) == 0 {
			fid = uint8(len(s.cfg.Atomic.Lambdas) + s.rng.IntN(200))
		}
		if code == wire.OpUpdateV2V {
			d := make([]byte, s.w.ValueBytes())
			for i := range d {
				d[i] = byte(s.rng.IntN(8))
			}
			if len(d) == 0 {
				d = []byte{0, 0, 0, 0}
			}
			return wire.Op{Code: code, Fid: fid, Key: op.Key, Value: d}
		}
		v := make([]byte, 8*s.rng.IntN(4))
		for i := range v {
			if i%8 == 0 {
				v[i] = byte(s.rng.IntN(40))
			}
		}
		return wire.Op{Code: code, Fid: fid, Key: op.Key, Value: v}
	}
	return op
}

// newPacket closes the next request packet and computes what it is owed.
func (s *procStim) newPacket() error {
	var pk *wire.Packet
	for pk == nil {
		if s.spec.Ops > 0 && s.sent >= s.spec.Ops {
			pk = s.batch.Flush()
			if pk == nil {
				return nil
			}
			break
		}
		var err error
		if pk, err = s.batch.Add(s.nextOp()); err != nil {
			return err
		}
		s.sent++
	}
	resp, err := wire.Respond(pk.Bytes, s.wp, s.exec)
	if err != nil {
		return err
	}
	s.cur = &procPkt{n: s.npkts, bytes: pk.Bytes, ops: len(pk.Ops), resp: resp}
	s.npkts++
	s.beat = 0
	return nil
}

// exec is the reference, with the coverage of what it answered.
func (s *procStim) exec(op wire.Op) wire.Result {
	_, found := s.ref.M[string(op.Key)]
	r := s.ref.Exec(op)
	switch {
	case r.Status == wire.LambdaFault:
		s.pts["proc.lambda_fault"]++
	case op.Code == wire.OpGet && found:
		s.pts["proc.get_hit"]++
	case op.Code == wire.OpGet:
		s.pts["proc.get_miss"]++
	case op.Code == wire.OpPut:
		s.pts["proc.put"]++
	case op.Code == wire.OpDelete:
		s.pts["proc.delete"]++
	case op.Code == wire.OpUpdateS2S:
		s.pts["proc.atomic"]++
	default:
		s.pts["proc.vector"]++
	}
	if len(r.Value) > 8 || len(op.Value) > 8 && op.Code == wire.OpPut {
		s.pts["proc.long_value"]++
	}
	return r
}

func (s *procStim) Next(cycle uint64, prev, in []uint64) (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	if prev != nil {
		if err := s.observe(cycle-1, prev); err != nil {
			s.err = err
			return false, err
		}
	}
	if s.phase == 3 {
		return false, nil
	}
	// Every response is in, but the station may still be writing a
	// forwarded value back: wait well past a write-back's round trips
	// before flushing the DRAM cache.
	if s.phase == 1 && len(s.owed) == 0 && s.cur == nil {
		if s.quietFrom == 0 {
			s.quietFrom = cycle
		}
		if cycle >= s.quietFrom+procQuiet {
			s.phase, s.flushOn = 2, true
		}
	}
	// the host side drives its inputs from its state
	for l, k := range s.links {
		o := k.Out()
		pre := fmt.Sprintf("l%d_", l)
		s.put(in, pre+"req_ready", b2u(o.ReqReady))
		s.put(in, pre+"cpl_valid", b2u(o.CplValid))
		s.put(in, pre+"cpl_tag", uint64(o.CplTag))
		copy(s.words(in, pre+"cpl_data"), o.CplData[:])
		s.put(in, pre+"cpl_last", b2u(o.CplLast))
		s.put(in, pre+"cpl_err", b2u(o.CplErr))
	}
	do := s.dram.Out()
	s.put(in, "dram_req_ready", b2u(do.ReqReady))
	s.put(in, "dram_rsp_valid", b2u(do.RspValid))
	copy(s.words(in, "dram_rsp_data"), do.RspData[:])
	s.put(in, "dram_rsp_meta", do.RspMeta)
	s.put(in, "flush_valid", b2u(s.flushOn))

	// the client
	if s.phase == 0 && s.cur == nil && cycle >= s.holdFrom {
		if err := s.newPacket(); err != nil {
			return false, err
		}
		if s.cur == nil {
			s.phase = 1
		}
	}
	if s.cur != nil && cycle >= s.holdFrom {
		f := s.cur.bytes
		lo := s.beat * s.b
		hi := min(lo+s.b, len(f))
		s.put(in, "rx_valid", 1)
		packWords(s.words(in, "rx_data"), f[lo:hi])
		s.put(in, "rx_keep", model.Mask(hi-lo))
		s.put(in, "rx_last", b2u(hi == len(f)))
		s.put(in, "rx_len", uint64(len(f)))
	}
	if !s.spec.Gaps || cycle >= s.txHold {
		s.put(in, "tx_ready", 1)
	} else {
		s.pts["proc.tx_backpressure"]++
	}
	if s.spec.Gaps && s.rng.IntN(64) == 0 {
		s.txHold = cycle + 1 + uint64(s.rng.IntN(20))
	}
	copy(s.in, in)
	return true, nil
}

// observe takes the outputs of cycle c: the host side advances on them,
// and the client takes what the processor accepted and sent.
func (s *procStim) observe(c uint64, out []uint64) error {
	in := s.in
	for l, k := range s.links {
		pre := fmt.Sprintf("l%d_", l)
		r := pcie.Req{Valid: s.get(out, pre+"req_valid") != 0, Write: s.get(out, pre+"req_write") != 0,
			Addr: s.get(out, pre+"req_addr"), Beats: int(s.get(out, pre+"req_beats")), Tag: int(s.get(out, pre+"req_tag")),
			Last: s.get(out, pre+"req_last") != 0}
		copy(r.Data[:], s.words(out, pre+"req_data"))
		if err := k.Tick(r); err != nil {
			return fmt.Errorf("cycle %d: link %d: %v", c, l, err)
		}
	}
	var dr dram.Req
	dr.Valid = s.get(out, "dram_req_valid") != 0
	dr.Write = s.get(out, "dram_req_write") != 0
	dr.Addr = s.get(out, "dram_req_addr")
	copy(dr.Data[:], s.words(out, "dram_req_data"))
	dr.Meta = s.get(out, "dram_req_meta")
	if err := s.dram.Tick(dr); err != nil {
		return fmt.Errorf("cycle %d: DRAM: %v", c, err)
	}
	s.daemon.Tick(c)

	if s.get(in, "rx_valid") == 1 {
		if s.get(out, "rx_ready") == 1 {
			s.beat++
			if s.beat*s.b >= len(s.cur.bytes) {
				s.cur.sentAt = c
				s.owed = append(s.owed, s.cur)
				s.cur = nil
				if s.spec.Gaps && s.rng.IntN(8) == 0 {
					s.holdFrom = c + 1 + uint64(s.rng.IntN(40))
				}
			}
		} else {
			s.pts["proc.rx_backpressure"]++
		}
	}
	if s.flushOn && s.get(out, "flush_ready") == 1 {
		s.flushOn = false
	}
	if s.phase == 2 && !s.flushOn && s.get(out, "flush_done") == 1 {
		s.pts["proc.flushed"]++
		if err := s.check(c); err != nil {
			return err
		}
		s.phase = 3
	}
	if s.get(out, "tx_valid") == 0 || s.get(in, "tx_ready") == 0 {
		return nil
	}
	got, err := txBeat(c, &s.got, htGetBytes(out, s.p["tx_data"], s.b), s.get(out, "tx_keep"), s.get(out, "tx_last") == 1)
	if err != nil || got == nil {
		return err
	}
	if len(s.owed) == 0 {
		return fmt.Errorf("cycle %d: a %d-byte response packet was sent but none is owed: %x", c, len(got), got)
	}
	w := s.owed[0]
	if !bytes.Equal(got, w.resp[0]) {
		return fmt.Errorf("cycle %d: response to request packet #%d (%d operations): sent %d bytes\n  %x\nthe reference store gives %d bytes\n  %x%s",
			c, w.n, w.ops, len(got), got, len(w.resp[0]), w.resp[0], procDiff(got, w.resp[0], w.bytes, s.wp))
	}
	w.resp = w.resp[1:]
	if len(w.resp) > 0 {
		s.pts["proc.split_response"]++
		return nil
	}
	s.owed = s.owed[1:]
	if s.st.Packets == 0 {
		s.st.FirstCycle = c
	}
	s.st.Packets++
	s.st.Ops += uint64(w.ops)
	s.opsDone.Store(s.st.Ops)
	s.st.Cycles = c
	s.st.Latency = append(s.st.Latency, c-w.sentAt)
	// memory traffic up to the last answer (the flush's sweep is not the
	// workload's)
	s.st.PCIeReads, s.st.PCIeWrites = 0, 0
	for _, k := range s.links {
		st := k.Stats()
		s.st.PCIeReads += st.Reads
		s.st.PCIeWrites += st.Writes
	}
	s.st.DRAMReads, s.st.DRAMWrites = s.dram.Reads, s.dram.Writes
	if s.top != nil {
		s.st.Engine = s.top.EngineStats()
		s.st.MemHazardStalls = s.top.Mem.Stats().HazardStalls
		s.st.Streams = s.top.Streams()
		s.st.StationWaits = s.top.RS.Waits()
	}
	return nil
}

// procDiff names the first operation whose result differs.
func procDiff(got, want, req []byte, p wire.Params) string {
	g, e1 := wire.DecodeResponse(got)
	w, e2 := wire.DecodeResponse(want)
	if e1 != nil || e2 != nil {
		return ""
	}
	d := wire.DecodeRequest(req, p)
	for i := range min(len(g.Results), len(w.Results)) {
		if g.Results[i].Status != w.Results[i].Status || !bytes.Equal(g.Results[i].Value, w.Results[i].Value) {
			what := ""
			if j := w.First + i; j < len(d.Ops) {
				o := d.Ops[j].Op
				what = fmt.Sprintf(" (%v key %x value %x)", o.Code, o.Key, o.Value)
			}
			return fmt.Sprintf("\nfirst difference: operation %d%s: processor %v %x, reference %v %x", w.First+i, what,
				g.Results[i].Status, g.Results[i].Value, w.Results[i].Status, w.Results[i].Value)
		}
	}
	return ""
}

// check runs the table checker on host memory after the flush.
func (s *procStim) check(c uint64) error {
	if _, err := hashtable.Check(s.cfg, s.host, s.ref.M, nil); err != nil {
		return fmt.Errorf("proc: table check after the flush (cycle %d, %d operations): %v", c, s.st.Ops, err)
	}
	s.pts["proc.checked"]++
	s.st.Checked = true
	return nil
}

func (s *procStim) Progress() uint64 { return s.st.Ops }

// Requests is the number of operations answered and checked.
func (s *procStim) Requests() uint64 { return s.st.Ops }

// Stats is what the run measured so far.
func (s *procStim) Stats() ProcStats { return s.st }

func (s *procStim) Describe(cycle uint64) string {
	var b strings.Builder
	if s.cur != nil {
		fmt.Fprintf(&b, "sending request packet #%d (%d ops, %d bytes), beat %d; ", s.cur.n, s.cur.ops, len(s.cur.bytes), s.beat)
	}
	fmt.Fprintf(&b, "%d packets owed a response", len(s.owed))
	if len(s.owed) > 0 {
		fmt.Fprintf(&b, " (oldest #%d, sent at cycle %d, %d bytes of its response received)", s.owed[0].n, s.owed[0].sentAt, len(s.got))
	}
	fmt.Fprintf(&b, "; %d operations answered", s.st.Ops)
	switch s.phase {
	case 1:
		fmt.Fprintf(&b, "; draining since cycle %d", s.quietFrom)
	case 2:
		fmt.Fprintf(&b, "; flushing the DRAM cache (flush_valid %v)", s.flushOn)
	}
	return b.String()
}

func (s *procStim) Points() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range procPoints {
		out[p] = s.pts[p]
	}
	return out
}

// Percentile is the p-th percentile (0..100) of xs, nearest rank.
func Percentile(xs []uint64, p float64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// newProcModel is the golden processor.
func newProcModel(cfg config.Config) (model.Model, error) { return top.New(cfg) }
