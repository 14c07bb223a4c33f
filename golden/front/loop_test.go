package front

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/wire"
)

// The closed loop: random request frames, some malformed, go in on rx_*
// as beats of B bytes with gaps; a stand-in pipeline takes the issued
// operations under random iss_ready, executes them in issue order against
// a Go map and completes them out of order after random latencies; tx_*
// is drained under random tx_ready and reassembled into packets. Every
// packet must equal, byte for byte, the one wire.Respond gives for its
// frame with the same execution applied in decode order.

// exec is the stand-in pipeline's semantics: GET, PUT and DELETE on kv as
// the store answers them (wire-format.md §5), and for the other opcodes a
// deterministic function of the operation.
func exec(kv map[string][]byte, o wire.Op) wire.Result {
	k := string(o.Key)
	switch o.Code {
	case wire.OpGet:
		v, ok := kv[k]
		if !ok {
			return wire.Result{Status: wire.NotFound}
		}
		return wire.Result{Status: wire.OK, Value: slices.Clone(v)}
	case wire.OpPut:
		kv[k] = slices.Clone(o.Value)
		return wire.Result{Status: wire.OK}
	case wire.OpDelete:
		if _, ok := kv[k]; !ok {
			return wire.Result{Status: wire.NotFound}
		}
		delete(kv, k)
		return wire.Result{Status: wire.OK}
	}
	switch (int(o.Code) + int(o.Fid) + len(o.Key)) % 4 {
	case 0, 1:
		v := slices.Clone(o.Value)
		slices.Reverse(v)
		return wire.Result{Status: wire.OK, Value: v}
	case 2:
		return wire.Result{Status: wire.NotFound, Value: make([]byte, 8)}
	}
	return wire.Result{Status: wire.LambdaFault}
}

// stim draws request frames (after testbenches/dec.go's stimulus).
type stim struct {
	r    *rand.Rand
	p    wire.Params
	b    int
	keys [][]byte
}

func newStim(r *rand.Rand, p wire.Params, b int) *stim {
	s := &stim{r: r, p: p, b: b}
	for range 24 {
		s.keys = append(s.keys, s.bytes(1+r.IntN(p.MaxKeyBytes)))
	}
	return s
}

func (s *stim) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.r.Uint32())
	}
	return b
}

func (s *stim) key() []byte { return s.keys[s.r.IntN(len(s.keys))] }

// op draws a well-formed operation, mostly on the key pool so that GETs
// and DELETEs find what PUTs stored.
func (s *stim) op(prev *wire.Op) wire.Op {
	r := s.r
	key := s.key()
	if r.IntN(6) == 0 {
		key = s.bytes(1 + r.IntN(s.p.MaxKeyBytes))
	}
	switch x := r.IntN(100); {
	case prev != nil && x < 15: // same sizes, maybe the same value
		o := wire.Op{Code: prev.Code, Fid: prev.Fid, Key: s.bytes(len(prev.Key)), Value: prev.Value}
		if r.IntN(2) == 0 && len(prev.Value) > 0 {
			o.Value = s.bytes(len(prev.Value))
		}
		return o
	case x < 40:
		return wire.Get(key)
	case x < 65:
		n := r.IntN(min(64, s.p.MaxValueBytes+1))
		if r.IntN(4) == 0 {
			n = r.IntN(s.p.MaxValueBytes + 1)
		}
		return wire.Put(key, s.bytes(n))
	case x < 75:
		return wire.Delete(key)
	case x < 80:
		return wire.UpdateScalar(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	case x < 85:
		return wire.UpdateScalarToVector(key, uint8(r.IntN(4)), r.Uint64(), 0, 0)
	case x < 90:
		return wire.UpdateVectorToVector(key, uint8(r.IntN(4)), s.bytes(s.p.ElementBytes*(1+r.IntN(min(8, s.p.MaxValueBytes/s.p.ElementBytes)))))
	case x < 95:
		return wire.Reduce(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), 0)
	default:
		return wire.Filter(key, uint8(r.IntN(4)), r.Uint64(), r.Uint64(), r.Uint64())
	}
}

// faulty draws an operation the decoder refuses: each operation-level
// fault of wire-format.md §4.2.
func (s *stim) faulty() wire.Op {
	r := s.r
	key := s.key()
	switch r.IntN(8) {
	case 0:
		return wire.Op{Code: wire.Opcode(8 + r.IntN(56)), Key: key, Value: s.bytes(r.IntN(40))}
	case 1:
		return wire.Op{Code: wire.OpGet, Fid: uint8(1 + r.IntN(255)), Key: key}
	case 2:
		return wire.Op{Code: []wire.Opcode{wire.OpGet, wire.OpDelete}[r.IntN(2)], Key: key, Value: s.bytes(1 + r.IntN(30))}
	case 3:
		return wire.Op{Code: wire.OpUpdateS2S, Key: key, Value: s.bytes([]int{1, 7, 9, 32}[r.IntN(4)])}
	case 4:
		return wire.Op{Code: wire.OpUpdateV2V, Key: key, Value: s.bytes([]int{0, s.p.ElementBytes + 1}[r.IntN(2)])}
	case 5:
		return wire.Put(nil, s.bytes(r.IntN(8)))
	case 6:
		if s.p.MaxKeyBytes == 255 {
			return wire.Put(nil, nil)
		}
		return wire.Put(s.bytes(s.p.MaxKeyBytes+1+r.IntN(255-s.p.MaxKeyBytes)), s.bytes(r.IntN(20)))
	default:
		// past V, sometimes past the decoder's whole window (5 + 255 + V + B)
		n := s.p.MaxValueBytes + 1 + r.IntN(16)
		if r.IntN(2) == 0 {
			n = 5 + 255 + s.p.MaxValueBytes + s.b + r.IntN(600)
		}
		return wire.Put(s.key(), s.bytes(n))
	}
}

// frame draws the next request frame and says what it is.
func (s *stim) frame() ([]byte, string) {
	r := s.r
	n := 1 + r.IntN(8)
	switch {
	case r.IntN(10) == 0:
		n = 1 + r.IntN(80)
	case r.IntN(40) == 0:
		n = 0
	case r.IntN(400) == 0:
		n = 300 + r.IntN(400) // responses split over packets (wire-format.md §6)
	}
	req := wire.Request{Seq: r.Uint32(), Ops: make([]wire.Op, 0, n)}
	what := "batch"
	for i := 0; i < n; i++ {
		var prev *wire.Op
		if i > 0 {
			prev = &req.Ops[i-1]
		}
		o := s.op(prev)
		if r.IntN(10) == 0 {
			o = s.faulty()
			what = "batch with refused ops"
			if r.IntN(2) == 0 && i+1 < n {
				// the next one takes the refused one's value
				req.Ops = append(req.Ops, o)
				o = wire.Put(s.key(), o.Value)
				i++
			}
		}
		req.Ops = append(req.Ops, o)
	}
	if r.IntN(3) == 0 {
		// explicit flags: a random subset of those that apply
		req.Flags = make([]wire.Flags, len(req.Ops))
		for i := 1; i < len(req.Ops); i++ {
			var f wire.Flags
			if len(req.Ops[i-1].Key) == len(req.Ops[i].Key) && len(req.Ops[i-1].Value) == len(req.Ops[i].Value) && r.IntN(2) == 0 {
				f |= wire.SameSizes
			}
			if bytes.Equal(req.Ops[i-1].Value, req.Ops[i].Value) && r.IntN(3) != 0 {
				f |= wire.SameValue
			}
			req.Flags[i] = f
		}
	}
	pkt, err := wire.EncodeRequest(req)
	if err != nil {
		// too large for the length field: a plain GET instead
		pkt, _ = wire.EncodeRequest(wire.Request{Seq: req.Seq, Ops: []wire.Op{wire.Get(s.keys[0])}})
		what = "batch"
	}
	if r.IntN(4) == 0 {
		pkt, what = s.mangle(pkt)
	}
	return pkt, what
}

// mangle breaks a well-formed packet in one of the ways decoder.md §4
// answers (testbenches/dec.go's).
func (s *stim) mangle(pkt []byte) ([]byte, string) {
	r := s.r
	le := binary.LittleEndian
	setLen := func(p []byte) []byte {
		if len(p) >= 6 {
			le.PutUint16(p[4:], uint16(len(p)))
		}
		return p
	}
	switch r.IntN(11) {
	case 0:
		return s.bytes(1 + r.IntN(13)), "a few random bytes"
	case 1:
		pkt[r.IntN(2)] ^= byte(1 + r.IntN(255))
		return pkt, "bad magic"
	case 2:
		pkt[2] = byte(2 + r.IntN(254))
		return pkt, "bad version"
	case 3:
		pkt[3] = byte(1 + r.IntN(255))
		return pkt, "bad type"
	case 4:
		return pkt[:r.IntN(len(pkt))+1], "cut, length field kept"
	case 5:
		if len(pkt) > 12 {
			pkt[12] |= byte(wire.SameSizes) << r.IntN(2)
		}
		return pkt, "flags on the first op"
	case 6:
		if len(pkt) <= 13 {
			return pkt, "batch"
		}
		return setLen(pkt[:12+1+r.IntN(len(pkt)-13)]), "cut, length fixed (truncated / length past end)"
	case 7:
		le.PutUint16(pkt[6:], le.Uint16(pkt[6:])+uint16(1+r.IntN(3)))
		return pkt, "count too large"
	case 8:
		if c := le.Uint16(pkt[6:]); c > 0 {
			le.PutUint16(pkt[6:], uint16(r.IntN(int(c))))
		}
		return pkt, "count too small (trailing operations)"
	case 9:
		if len(pkt)+40 > wire.MaxPacketBytes {
			return pkt, "batch"
		}
		return setLen(append(pkt, s.bytes(1+r.IntN(40))...)), "trailing garbage"
	default:
		if len(pkt) > 12 {
			for range 1 + r.IntN(3) {
				pkt[12+r.IntN(len(pkt)-12)] = byte(r.Uint32())
			}
		}
		return pkt, "random bytes changed in the operations"
	}
}

// knobs are the loop's random rates, changed every few thousand cycles.
type knobs struct {
	rxGap  int // % of cycles with no beat offered when one could be
	issue  int // % of cycles with iss_ready
	tx     int // % of cycles with tx_ready
	cpl    int // % of cycles a due completion is sent
	latMax int // completion latency 1 … latMax cycles after the take
}

type pend struct {
	tag int
	due int
	res wire.Result
}

type frameInfo struct {
	n     int
	bytes []byte
	what  string
	first int // index of its first expected packet
}

type loop struct {
	t     testing.TB
	m     *Model
	lay   *model.Layout
	r     *rand.Rand
	s     *stim
	wp    wire.Params
	b     int
	cycle int
	k     knobs

	in, out []uint64

	// rx side
	frames     []*frameInfo // generated, in order
	nextFrame  int          // next frame to send
	off        int          // bytes of frames[nextFrame] taken
	beatOnPort bool         // a beat is offered and not yet taken
	refKV      map[string][]byte
	want       [][]byte // expected packets, in order
	wantFrame  []int    // the frame of each

	// the pipeline
	kv      map[string][]byte
	pending []pend
	issued  int
	out1    map[int]bool // tags taken and not completed

	// tx side
	pkt     []byte
	got     int // packets received
	beats   int
	stalled int // cycles since the last event
	cpls    int
	ooo     int // completions that passed an older outstanding one
	probe   int // every probe-th cycle, check the outputs' independence
	probes  int
	hits    int                                          // GETs that found their key
	kinds   struct{ errors, empty, trailing, split int } // expected packets
}

func newLoop(t testing.TB, cfg config.Config, seed uint64) *loop {
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	r := rand.New(rand.NewPCG(seed, 0x66726f6e74))
	wp := wire.Params{MaxKeyBytes: cfg.Key.MaxKeyBytes, MaxValueBytes: cfg.Key.MaxValueBytes, ElementBytes: cfg.Vector.ElementBits / 8}
	l := &loop{
		t: t, m: m, lay: lay, r: r, s: newStim(r, wp, cfg.Net.BytesPerCycle), wp: wp, b: cfg.Net.BytesPerCycle,
		in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords),
		refKV: map[string][]byte{}, kv: map[string][]byte{}, out1: map[int]bool{},
	}
	l.newKnobs()
	return l
}

func (l *loop) newKnobs() {
	r := l.r
	pick := func(v ...int) int { return v[r.IntN(len(v))] }
	l.k = knobs{
		rxGap:  pick(0, 0, 20, 60, 95),
		issue:  pick(100, 100, 70, 30, 5),
		tx:     pick(100, 100, 70, 30, 5),
		cpl:    pick(100, 80, 30),
		latMax: pick(1, 2, 8, 40, 300),
	}
}

// addFrame draws a frame and appends the packets wire.Respond answers it
// with, executing its issued operations on refKV in decode order.
func (l *loop) addFrame() {
	pkt, what := l.s.frame()
	f := &frameInfo{n: len(l.frames), bytes: pkt, what: what, first: len(l.want)}
	resp, err := wire.Respond(pkt, l.wp, func(o wire.Op) wire.Result { return exec(l.refKV, o) })
	if err != nil {
		l.t.Fatalf("frame %d (%s): wire.Respond: %v", f.n, what, err)
	}
	l.frames = append(l.frames, f)
	for i, p := range resp {
		switch {
		case p[3] == wire.TypeErrorResponse:
			l.kinds.errors++
		case p[6] == 0 && p[7] == 0:
			l.kinds.empty++
		}
		if p[3]&wire.TypeTrailing != 0 {
			l.kinds.trailing++
		}
		if i > 0 {
			l.kinds.split++
		}
		l.want = append(l.want, p)
		l.wantFrame = append(l.wantFrame, f.n)
	}
}

func (l *loop) set(name string, v uint64) {
	s := l.lay.MustSlot(name)
	l.in[s.Off] = v & model.Mask(min(s.Width, 64))
}

func (l *loop) setBytes(name string, b []byte) {
	s := l.lay.MustSlot(name)
	w := l.in[s.Off : s.Off+s.Words]
	clear(w)
	for i, x := range b {
		w[i/8] |= uint64(x) << (8 * (i % 8))
	}
}

func (l *loop) get(name string) uint64 {
	s := l.lay.MustSlot(name)
	return l.out[s.Off]
}

func (l *loop) getBytes(name string, n int) []byte {
	s := l.lay.MustSlot(name)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(l.out[s.Off+i/8] >> (8 * (i % 8)))
	}
	return b
}

// drive sets this cycle's inputs.
func (l *loop) drive() {
	r := l.r
	// rx: a beat offered stays until taken (microarch.md §1.3).
	if !l.beatOnPort && l.nextFrame < len(l.frames) && r.IntN(100) >= l.k.rxGap {
		f := l.frames[l.nextFrame]
		n := min(l.b, len(f.bytes)-l.off)
		l.set("rx_valid", 1)
		data := f.bytes[l.off : l.off+n]
		if n < l.b && r.IntN(2) == 0 { // bytes not marked are ignored (decoder.md §2)
			data = append(slices.Clone(data), l.s.bytes(l.b-n)...)
		}
		l.setBytes("rx_data", data)
		keep := make([]byte, (l.b+7)/8)
		for j := 0; j < n; j++ {
			keep[j/8] |= 1 << (j % 8)
		}
		l.setBytes("rx_keep", keep)
		l.set("rx_last", b2u(l.off+n == len(f.bytes)))
		l.set("rx_len", uint64(len(f.bytes)))
		l.beatOnPort = true
	} else if !l.beatOnPort {
		l.set("rx_valid", 0)
		if r.IntN(2) == 0 { // the data of an idle port is anything
			l.setBytes("rx_data", l.s.bytes(l.b))
		}
	}
	l.set("iss_ready", b2u(r.IntN(100) < l.k.issue))
	l.set("tx_ready", b2u(r.IntN(100) < l.k.tx))

	// A completion: a random one of those due.
	l.set("cpl_valid", 0)
	if len(l.pending) > 0 && r.IntN(100) < l.k.cpl {
		var due []int
		for i, p := range l.pending {
			if p.due <= l.cycle {
				due = append(due, i)
			}
		}
		if len(due) > 0 {
			i := due[r.IntN(len(due))]
			p := l.pending[i]
			if i > 0 { // passes an older outstanding operation
				l.ooo++
			}
			l.pending = slices.Delete(l.pending, i, i+1)
			delete(l.out1, p.tag)
			l.set("cpl_valid", 1)
			l.set("cpl_tag", uint64(p.tag))
			l.set("cpl_status", uint64(p.res.Status))
			l.set("cpl_vlen", uint64(len(p.res.Value)))
			v := slices.Clone(p.res.Value)
			if r.IntN(2) == 0 { // bytes ≥ cpl_vlen are ignored (rob.md §2)
				v = append(v, l.s.bytes(l.wp.MaxValueBytes-len(v))...)
			}
			l.setBytes("cpl_value", v)
			l.cpls++
			l.stalled = 0
		}
	}
}

// observe checks this cycle's outputs and advances the environment.
func (l *loop) observe() {
	t := l.t
	// rx
	if l.beatOnPort && l.get("rx_ready") != 0 {
		f := l.frames[l.nextFrame]
		l.off += min(l.b, len(f.bytes)-l.off)
		l.beatOnPort = false
		l.stalled = 0
		if l.off == len(f.bytes) {
			l.nextFrame++
			l.off = 0
		}
	}
	// iss
	if l.get("iss_valid") != 0 && l.in[l.lay.MustSlot("iss_ready").Off] != 0 {
		tag := int(l.get("iss_tag"))
		if tag >= l.m.Rob.P.M || l.out1[tag] {
			t.Fatalf("cycle %d: iss_tag %d: not a free entry index (M = %d)", l.cycle, tag, l.m.Rob.P.M)
		}
		klen, vlen := int(l.get("iss_klen")), int(l.get("iss_vlen"))
		if klen < 1 || klen > l.wp.MaxKeyBytes || vlen > l.wp.MaxValueBytes || l.get("iss_op") > 7 {
			t.Fatalf("cycle %d: issued op %d with klen %d, vlen %d", l.cycle, l.get("iss_op"), klen, vlen)
		}
		key := l.getBytes("iss_key", l.wp.MaxKeyBytes)
		value := l.getBytes("iss_value", l.wp.MaxValueBytes)
		if !allZero(key[klen:]) || !allZero(value[vlen:]) {
			t.Fatalf("cycle %d: issued op: key or value bytes past its length not zero (decoder.md §2)", l.cycle)
		}
		o := wire.Op{Code: wire.Opcode(l.get("iss_op")), Fid: uint8(l.get("iss_fid")), Key: key[:klen], Value: value[:vlen]}
		res := exec(l.kv, o)
		if o.Code == wire.OpGet && res.Status == wire.OK {
			l.hits++
		}
		l.pending = append(l.pending, pend{tag: tag, due: l.cycle + 1 + l.r.IntN(l.k.latMax), res: res})
		l.out1[tag] = true
		l.issued++
		l.stalled = 0
	}
	// tx
	if l.get("tx_valid") != 0 && l.in[l.lay.MustSlot("tx_ready").Off] != 0 {
		keep := l.getBytes("tx_keep", (l.b+7)/8)
		n := 0
		for n < l.b && keep[n/8]>>(n%8)&1 != 0 {
			n++
		}
		for j := n; j < l.b; j++ {
			if keep[j/8]>>(j%8)&1 != 0 {
				t.Fatalf("cycle %d: tx_keep %x: not bytes 0 … n−1", l.cycle, keep)
			}
		}
		last := l.get("tx_last") != 0
		if n == 0 || (!last && n != l.b) {
			t.Fatalf("cycle %d: tx beat with %d of %d bytes kept, tx_last %v", l.cycle, n, l.b, last)
		}
		data := l.getBytes("tx_data", l.b)
		if !allZero(data[n:]) {
			t.Fatalf("cycle %d: tx_data bytes not kept are not 0 (encoder.md §2)", l.cycle)
		}
		l.pkt = append(l.pkt, data[:n]...)
		l.beats++
		l.stalled = 0
		if last {
			l.packet()
		}
	}
}

// packet checks a reassembled packet against the next expected one.
func (l *loop) packet() {
	t := l.t
	if l.got >= len(l.want) {
		t.Fatalf("cycle %d: packet %d (%d bytes %x) beyond the %d expected", l.cycle, l.got, len(l.pkt), l.pkt, len(l.want))
	}
	want := l.want[l.got]
	if !bytes.Equal(l.pkt, want) {
		f := l.frames[l.wantFrame[l.got]]
		d := wire.DecodeRequest(f.bytes, l.wp)
		t.Fatalf("cycle %d: packet %d (packet %d of frame %d, %s):\n got  %x\n want %x\nframe %x\ndecoded: err %v, %d ops, trailing %d\nstate: %s",
			l.cycle, l.got, l.got-f.first, f.n, f.what, l.pkt, want, f.bytes, d.Err, len(d.Ops), d.Trailing, l.m.DescribeState())
	}
	l.got++
	l.pkt = l.pkt[:0]
}

// checkIndependence is §3's "no combinational path" at the current
// state: the outputs of kvd_front with this cycle's inputs equal those
// with random inputs and with all-zero inputs.
func (l *loop) checkIndependence() {
	snap := l.m.Snapshot()
	ref := make([]uint64, len(l.out))
	if err := l.m.Step(l.in, ref); err != nil {
		l.t.Fatalf("cycle %d: %v", l.cycle, err)
	}
	l.m.Restore(snap)
	alt := make([]uint64, len(l.out))
	for k := 0; k < 3; k++ {
		in := randomInputs(l.r, l.lay)
		if k == 0 {
			clear(in)
		}
		// An error (random inputs break the environment's contract) is
		// fine here: outputs are written first whatever follows.
		_ = l.m.Step(in, alt)
		l.m.Restore(snap)
		if !slices.Equal(ref, alt) {
			l.t.Fatalf("cycle %d: kvd_front's outputs change with its inputs of the same cycle:%s", l.cycle, diffPorts(l.lay, ref, alt))
		}
	}
	l.probes++
}

// run sends n frames through and checks every response packet.
func (l *loop) run(n int) {
	for range n {
		l.addFrame()
	}
	const stallLimit = 20000
	for l.got < len(l.want) {
		if l.cycle%3000 == 2999 {
			l.newKnobs()
		}
		l.drive()
		if l.probe > 0 && l.cycle%l.probe == 0 {
			l.checkIndependence()
		}
		if err := l.m.Step(l.in, l.out); err != nil {
			l.t.Fatalf("cycle %d: %v", l.cycle, err)
		}
		l.observe()
		l.cycle++
		l.stalled++
		if l.stalled > stallLimit+l.k.latMax {
			l.t.Fatalf("no progress for %d cycles at cycle %d: %d of %d frames sent, %d of %d packets received, %d pending (%s)",
				l.stalled, l.cycle, l.nextFrame, len(l.frames), l.got, len(l.want), len(l.pending), l.m.DescribeState())
		}
	}
	if l.nextFrame != len(l.frames) || len(l.pending) != 0 || len(l.pkt) != 0 {
		l.t.Fatalf("end: %d of %d frames sent, %d pending completions, %d bytes of a packet", l.nextFrame, len(l.frames), len(l.pending), len(l.pkt))
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// randomInputs draws an input vector: every input port random within its
// width.
func randomInputs(r *rand.Rand, lay *model.Layout) []uint64 {
	in := make([]uint64, lay.InWords)
	for _, s := range lay.In {
		for w := 0; w < s.Words; w++ {
			v := r.Uint64()
			if w == s.Words-1 && s.Width%64 != 0 {
				v &= model.Mask(s.Width % 64)
			}
			in[s.Off+w] = v
		}
	}
	return in
}

// diffPorts lists the output ports whose values differ.
func diffPorts(lay *model.Layout, a, b []uint64) string {
	s := ""
	for _, t := range lay.Out {
		if !slices.Equal(a[t.Off:t.Off+t.Words], b[t.Off:t.Off+t.Words]) {
			s += fmt.Sprintf(" %s %s vs %s", lay.Ports[t.Port].Name, model.Hex(a[t.Off:t.Off+t.Words], t.Width), model.Hex(b[t.Off:t.Off+t.Words], t.Width))
		}
	}
	return s
}

func preset(t testing.TB, name string) config.Config {
	t.Helper()
	c, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// narrow: 4-byte beats, the smallest V the decoder takes (24), a short K,
// 8-bit elements and a 5-entry buffer, so the buffer fills often.
func narrow(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "sim")
	c.Name = "narrow"
	c.Key.MaxKeyBytes = 7
	c.Key.MaxValueBytes = 24
	c.Net.BytesPerCycle = 4
	c.Vector.ElementBits = 8
	c.ROB.Entries = 5
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// wide: beats wider than a word of rx_keep and tx_keep that divide no
// packet evenly, the largest K, 64-bit elements, a one-entry buffer.
func wide(t testing.TB) config.Config {
	t.Helper()
	c := preset(t, "paper")
	c.Name = "wide"
	c.Key.MaxKeyBytes = 255
	c.Key.MaxValueBytes = 200
	c.Net.BytesPerCycle = 100
	c.Vector.ElementBits = 64
	c.ROB.Entries = 1
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClosedLoop(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	for _, c := range []struct {
		cfg  config.Config
		n    int
		seed uint64
	}{
		{preset(t, "sim"), n, 1},
		{preset(t, "paper"), n / 2, 2},
		{narrow(t), n / 2, 3},
		{wide(t), n / 4, 4},
	} {
		t.Run(c.cfg.Name, func(t *testing.T) {
			start := time.Now()
			l := newLoop(t, c.cfg, c.seed)
			l.probe = 97
			l.run(c.n)
			t.Logf("%d frames, %d packets (%d error responses, %d empty, %d TRAILING, %d continuations of split responses), %d beats, %d ops issued (%d GET hits), %d completions (%d out of order), %d independence probes in %d cycles, %v",
				len(l.frames), l.got, l.kinds.errors, l.kinds.empty, l.kinds.trailing, l.kinds.split, l.beats, l.issued, l.hits, l.cpls, l.ooo, l.probes, l.cycle, time.Since(start).Round(time.Millisecond))
			if k := l.kinds; k.errors == 0 || k.empty == 0 || k.trailing == 0 || (k.split == 0 && !testing.Short()) {
				t.Errorf("the stimulus missed a kind of response: %+v", k)
			}
		})
	}
}
