package htengine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/lambda"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/vector"
)

// envOpts shape the closed-loop environment of the tests: a host memory
// behind the §1.7 port, the allocator behind the slab port, a request
// source.
type envOpts struct {
	rdReady, wrReady, alReady float64 // per-cycle probability of ready
	latMin, latMax            int     // first beat of a read this many cycles after its acceptance (>= 1)
	alDelayMin, alDelayMax    int     // alloc answer this many cycles after its acceptance (>= 1)
	errP                      float64 // probability a read carries one error beat
	noMemP                    float64 // probability an alloc is answered "no memory"
	reqP                      float64 // per-cycle probability a waiting request is presented
	vecP                      float64 // randomRequest: share of vector operations (engine.md §6.7)
	// failRead, if set, names the beat of a read (address, beats) whose DMA
	// fails (-1: none); for directed error tests, besides errP.
	failRead func(addr uint64, beats int) int
}

func defaultOpts() envOpts {
	return envOpts{rdReady: 0.7, wrReady: 0.7, alReady: 0.7, latMin: 1, latMax: 6,
		alDelayMin: 1, alDelayMax: 1, reqP: 0.8, vecP: 0.15}
}

// request is one request as the port carries it (garbage beyond the
// lengths), with what the test expects of it.
type request struct {
	tag         uint16
	op          int
	klen, vlen  int
	key, value  []byte // K and V bytes as on the port
	bucket, sec uint64
	// Vector operations' operands (E bits each; driven for every request,
	// ignored but for vector operations).
	fid, delta, cmp, swap uint64
	refuse                uint8 // expected refusal status; 0: a valid operation
	accepted              uint64
}

func (r *request) Key() []byte   { return r.key[:r.klen] }
func (r *request) Value() []byte { return r.value[:r.vlen] }

// memRead is a read request the host memory took: its beats (32 B each),
// and the transfers that carry them on the read-data port — a beat each,
// or, when the engine's port is wide (engine.read_bytes = 64), beats 2k and
// 2k+1 in transfer k, an odd last beat alone with the upper 256 bits 0
// (docs/microarch.md §1.7).
type memRead struct {
	addr    uint64
	beats   [][4]uint64
	xfers   [][]uint64 // 4 words a transfer, 8 when wide
	first   uint64     // earliest cycle of transfer 0
	next    int        // the next transfer
	errBeat int        // -1: none
	errXfer int        // the transfer carrying errBeat (-1: none)
}

type alAnswer struct {
	at  uint64
	ok  bool
	ptr uint64
}

// event records a port event for directed checks.
type event struct {
	cycle uint64
	a, b  uint64
}

type env struct {
	t    *testing.T
	cfg  config.Config
	m    *Model
	p    Params
	o    portOffsets
	lay  *model.Layout
	rng  *rand.Rand
	opt  envOpts
	hash *keyhash.Hasher

	in, out []uint64
	pre     []uint64 // Outputs before Step: must equal Step's outputs
	cycle   uint64

	mem   *hostmem.Memory
	alloc *hashtable.SimpleAllocator
	ref   *hashtable.Table // the sequential reference, on its own memory
	back  *hashtable.Table // backdoor preload into mem

	src       []*request
	cur       *request
	nextTag   uint16
	pending   map[uint16]*request
	perBucket map[uint64][]uint16
	sent, got int

	reads    []*memRead
	maxReads int // the most reads outstanding at once
	// Read data delivered: transfers, and the beats they carried.
	rdXfers, rdBeats int

	alAns *alAnswer

	// What the previous cycle left on the ports, for the §1.3 stability checks.
	prevRd, prevAl, prevWr []uint64
	prevRdHeld, prevAlHeld bool
	prevWrHeld             bool

	// Records. rdXferEvs: a read-data transfer (cycle, the read's address,
	// the transfer's index).
	accepts, responses, rdReqs, alReqs []event
	rdXferEvs                          []event

	// Per operation (by tag): reads taken, the first address of each write,
	// and the chain (address -> position) before its first write.
	opReads      map[uint16]int
	opAl         map[uint16][]event // alloc/free transfers: op, class
	wrBeats      []event            // cycle, address
	opWrites     map[uint16][]int64
	oldChain     map[uint16]map[int64]int
	orderChecked int

	memErrors, noMems, injErr, injNoMem int
	refReads, refWrites                 int
	refAllocs, refFrees                 int
	coverage                            map[string]int

	// The vector reference: golden/vector's Exec on the reference table's
	// value; vecChecked counts the vector operations that reached kvd_vec
	// (OK or LAMBDA_FAULT) and were checked.
	ev         *lambda.Evaluator
	vecChecked int

	rspValues map[uint16][]byte // every response's value (rsp_vlen bytes), by tag
}

// readWidths are the values of engine.read_bytes (engine.md §1): the
// functional tests run at both, the host memory answering as the engine's
// port is (one beat a transfer, or two: docs/microarch.md §1.7).
var readWidths = []int{BeatBytes, 2 * BeatBytes}

// eachReadWidth runs f as a subtest per read width ("rw32", "rw64").
func eachReadWidth(t *testing.T, f func(t *testing.T, rw int)) {
	t.Helper()
	for _, rw := range readWidths {
		t.Run(fmt.Sprint("rw", rw), func(t *testing.T) { f(t, rw) })
	}
}

func newEnv(t *testing.T, cfg config.Config, opt envOpts, seed uint64) *env {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lay := model.MustLayout(m.Ports())
	e := &env{t: t, cfg: cfg, m: m, p: m.Params(), o: m.o, lay: lay,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), opt: opt, hash: keyhash.NewHasher(cfg),
		in: make([]uint64, lay.InWords), out: make([]uint64, lay.OutWords), pre: make([]uint64, lay.OutWords),
		pending: map[uint16]*request{}, perBucket: map[uint64][]uint16{}, coverage: map[string]int{}, rspValues: map[uint16][]byte{},
		opReads: map[uint16]int{}, opAl: map[uint16][]event{}, opWrites: map[uint16][]int64{}, oldChain: map[uint16]map[int64]int{}}
	e.mem = hostmem.New(cfg.Memory.HostBytes)
	if e.alloc, err = hashtable.NewSimpleAllocator(cfg, 0); err != nil {
		t.Fatal(err)
	}
	if e.ev, err = vector.NewEvaluator(cfg); err != nil {
		t.Fatal(err)
	}
	refAlloc, _ := hashtable.NewSimpleAllocator(cfg, 0)
	if e.ref, err = hashtable.New(cfg, hostmem.New(cfg.Memory.HostBytes), refAlloc); err != nil {
		t.Fatal(err)
	}
	if e.back, err = hashtable.New(cfg, e.mem, e.alloc); err != nil {
		t.Fatal(err)
	}
	return e
}

// preload stores a KV in both tables before the run.
func (e *env) preload(key, value []byte) {
	if r := e.back.Put(key, value); r.Status != hashtable.OK {
		e.t.Fatalf("preload: %v", r.Status)
	}
	e.ref.Put(key, value)
}

// newRequest builds a valid request (port garbage beyond the lengths).
func (e *env) newRequest(op int, key, value []byte) *request {
	r := &request{op: op, klen: len(key), vlen: len(value),
		key: make([]byte, e.p.K), value: make([]byte, e.p.V)}
	for i := range r.key {
		r.key[i] = byte(e.rng.Uint32())
	}
	for i := range r.value {
		r.value[i] = byte(e.rng.Uint32())
	}
	copy(r.key, key)
	copy(r.value, value)
	if op != OpPut && op != OpUpdateV2V {
		r.vlen = e.rng.IntN(1 << e.p.VL) // ignored
	}
	// Ignored for GET, PUT, DELETE: garbage.
	r.fid = e.rng.Uint64N(1 << e.p.F)
	r.delta, r.cmp, r.swap = e.rng.Uint64()&model.Mask(e.p.E), e.rng.Uint64()&model.Mask(e.p.E), e.rng.Uint64()&model.Mask(e.p.E)
	if len(key) >= 1 && len(key) <= e.p.K {
		r.bucket, r.sec, _ = e.hash.Bytes(key)
	}
	return r
}

func (e *env) send(r *request) *request {
	r.tag = e.nextTag
	e.nextTag++
	e.src = append(e.src, r)
	e.sent++
	return r
}

func (e *env) chance(p float64) bool { return p >= 1 || (p > 0 && e.rng.Float64() < p) }

func (e *env) between(lo, hi int) int { return lo + e.rng.IntN(hi-lo+1) }

func (e *env) slot(name string) model.Slot { return e.lay.MustSlot(name) }

// step runs one cycle: inputs from the environment's state, the model's
// Step, then the environment reacts to the outputs.
func (e *env) step() {
	t, o := e.t, &e.o
	in := e.in
	clear(in)

	// Request source (valid held until taken, §1.3).
	if e.cur == nil && len(e.src) > 0 && e.chance(e.opt.reqP) {
		e.cur, e.src = e.src[0], e.src[1:]
	}
	if r := e.cur; r != nil {
		in[o.iReqValid] = 1
		in[o.iReqOp] = uint64(r.op)
		in[o.iReqTag] = uint64(r.tag)
		putBytes(in[o.iReqKey:o.iReqKey+o.keyWords], r.key)
		in[o.iReqKlen] = uint64(r.klen)
		in[o.iReqVlen] = uint64(r.vlen)
		putBytes(in[o.iReqValue:o.iReqValue+o.valueWords], r.value)
		in[o.iReqBucket] = r.bucket
		in[o.iReqSec] = r.sec
		in[o.iReqFid] = r.fid
		in[o.iReqDelta] = r.delta
		in[o.iReqCmp] = r.cmp
		in[o.iReqSwap] = r.swap
	}

	// Allocator.
	alReady := e.chance(e.opt.alReady)
	in[o.iAlReady] = b2u(alReady)
	answering := e.alAns != nil && e.alAns.at == e.cycle
	if answering {
		in[o.iAlRspValid] = 1
		in[o.iAlRspOK] = b2u(e.alAns.ok)
		in[o.iAlRspPtr] = e.alAns.ptr
	}

	// Host memory.
	rdReady := e.chance(e.opt.rdReady)
	in[o.iRdReady] = b2u(rdReady)
	var beatOf *memRead
	if len(e.reads) > 0 && e.reads[0].first <= e.cycle {
		rd := e.reads[0]
		beatOf = rd
		in[o.iRdataValid] = 1
		copy(in[o.iRdata:o.iRdata+o.rdataWords], rd.xfers[rd.next])
		in[o.iRdataLast] = b2u(rd.next == len(rd.xfers)-1)
		in[o.iRdataErr] = b2u(rd.next == rd.errXfer)
	}
	wrReady := e.chance(e.opt.wrReady)
	in[o.iWrReady] = b2u(wrReady)

	// Whose read and write are on the ports (the state at the start of the
	// cycle); used only to attribute accesses to operations.
	st := &e.m.st
	var rdTag, wrTag, alTag uint16
	var wrFirst bool
	if st.rdValid {
		rdTag = st.c[st.rdCtx].tag
	}
	if st.slValid {
		alTag = st.c[st.slCtx].tag
	}
	if st.wrActive {
		wrTag, wrFirst = st.c[st.wrCtx].tag, st.wrBeat == 0
	}

	for i := range e.pre {
		e.pre[i] = 0xdeadbeefdeadbeef // Outputs must write every word
	}
	e.m.Outputs(e.pre)
	if err := e.m.Step(in, e.out); err != nil {
		t.Fatalf("%v\n%s", err, e.m.DescribeState())
	}
	out := e.out
	if !slices.Equal(e.pre, out) {
		t.Fatalf("cycle %d: Outputs gave %x before the step, Step %x", e.cycle, e.pre, out)
	}
	e.checkOutputs()

	// Request taken?
	if e.cur != nil && out[o.oReqReady] == 1 {
		r := e.cur
		r.accepted = e.cycle
		e.accepts = append(e.accepts, event{e.cycle, uint64(r.tag), 0})
		if _, dup := e.pending[r.tag]; dup {
			t.Fatalf("cycle %d: tag %d reused while outstanding", e.cycle, r.tag)
		}
		e.pending[r.tag] = r
		if r.refuse == 0 {
			e.perBucket[r.bucket] = append(e.perBucket[r.bucket], r.tag)
		}
		e.cur = nil
	}

	// Response.
	if out[o.oRspValid] == 1 {
		e.response()
	}

	// Slab port.
	if answering {
		e.alAns = nil
	}
	if out[o.oAlValid] == 1 && alReady {
		op, class, ptr := out[o.oAlOp], int(out[o.oAlClass]), out[o.oAlPtr]
		e.alReqs = append(e.alReqs, event{e.cycle, op, uint64(class)})
		e.opAl[alTag] = append(e.opAl[alTag], event{e.cycle, op, uint64(class)})
		if op == AlAlloc {
			if ptr != 0 {
				t.Fatalf("cycle %d: alloc with al_ptr %#x (must be 0)", e.cycle, ptr)
			}
			if e.alAns != nil {
				t.Fatalf("cycle %d: a second alloc while one is unanswered", e.cycle)
			}
			a := &alAnswer{at: e.cycle + uint64(e.between(e.opt.alDelayMin, e.opt.alDelayMax))}
			if e.chance(e.opt.noMemP) {
				e.injNoMem++
			} else {
				a.ptr, a.ok = e.alloc.Alloc(class)
				if !a.ok {
					t.Fatalf("cycle %d: the test's heap ran out", e.cycle)
				}
			}
			e.alAns = a
		} else {
			e.alloc.Free(ptr, class)
		}
	}

	// Read data consumed.
	if beatOf != nil {
		e.rdXferEvs = append(e.rdXferEvs, event{e.cycle, beatOf.addr, uint64(beatOf.next)})
		e.rdXfers++
		e.rdBeats += min(e.p.RW/BeatBytes, len(beatOf.beats)-e.p.RW/BeatBytes*beatOf.next)
		beatOf.next++
		if beatOf.next == len(beatOf.xfers) {
			e.reads = e.reads[1:]
		}
	}
	// Writes take effect in acceptance order, before a read accepted in the
	// same cycle is served.
	if out[o.oWrValid] == 1 && wrReady {
		if wrFirst {
			if len(e.opWrites[wrTag]) == 0 {
				e.oldChain[wrTag] = e.chain(e.pending[wrTag].bucket)
			}
			e.opWrites[wrTag] = append(e.opWrites[wrTag], int64(out[o.oWrAddr]))
		}
		e.wrBeats = append(e.wrBeats, event{e.cycle, out[o.oWrAddr], 0})
		var d [4]uint64
		copy(d[:], out[o.oWrData:o.oWrData+4])
		e.mem.WriteBeat(int64(out[o.oWrAddr]), d)
	}
	if out[o.oRdValid] == 1 && rdReady {
		addr, n := out[o.oRdAddr], int(out[o.oRdBeats])
		e.rdReqs = append(e.rdReqs, event{e.cycle, addr, uint64(n)})
		e.opReads[rdTag]++
		if n < 1 || n > 16 || addr%32 != 0 {
			t.Fatalf("cycle %d: read of %d beats at %#x", e.cycle, n, addr)
		}
		rd := &memRead{addr: addr, first: e.cycle + uint64(e.between(e.opt.latMin, e.opt.latMax)), errBeat: -1, errXfer: -1}
		for k := 0; k < n; k++ {
			rd.beats = append(rd.beats, e.mem.ReadBeat(int64(addr)+32*int64(k)))
		}
		errBeat := -1
		if e.chance(e.opt.errP) {
			errBeat = e.rng.IntN(n)
		}
		if e.opt.failRead != nil {
			if b := e.opt.failRead(addr, n); b >= 0 {
				errBeat = b
			}
		}
		e.packTransfers(rd)
		if errBeat >= 0 {
			e.injectError(rd, errBeat)
		}
		e.reads = append(e.reads, rd)
		e.maxReads = max(e.maxReads, len(e.reads))
	}

	e.checkInvariants()
	e.cycle++
}

// packTransfers fills rd.xfers from rd.beats: one beat a transfer, or two
// when the engine's read port is wide (docs/microarch.md §1.7: transfer k
// carries beats 2k and 2k+1, an odd last beat alone with the upper 256 bits
// 0).
func (e *env) packTransfers(rd *memRead) {
	per := e.p.RW / BeatBytes
	rd.xfers = rd.xfers[:0]
	for k := 0; k < len(rd.beats); k += per {
		x := make([]uint64, 4*per)
		for b := 0; b < per && k+b < len(rd.beats); b++ {
			copy(x[4*b:], rd.beats[k+b][:])
		}
		rd.xfers = append(rd.xfers, x)
	}
}

// injectError makes the DMA of beat b of rd fail: the transfer carrying it
// has mem_rdata_err = 1 and undefined data (random here; the whole
// transfer when wide, its other beat and an odd last beat's zero half too).
func (e *env) injectError(rd *memRead, b int) {
	if rd.errBeat >= 0 {
		e.t.Fatalf("a second error on the read at %#x", rd.addr)
	}
	per := e.p.RW / BeatBytes
	rd.errBeat, rd.errXfer = b, b/per
	rd.beats[b] = [4]uint64{e.rng.Uint64(), e.rng.Uint64(), e.rng.Uint64(), e.rng.Uint64()}
	x := rd.xfers[rd.errXfer]
	copy(x[4*(b%per):], rd.beats[b][:])
	for w := range x {
		if w/4 != b%per {
			x[w] = e.rng.Uint64()
		}
	}
	e.injErr++
}

// checkOutputs: bits above each port's width are zero (§1.4), and requests
// on mem_rd, al and mem_wr stay stable until taken (§1.3).
func (e *env) checkOutputs() {
	t, o, out := e.t, &e.o, e.out
	for _, s := range e.lay.Out {
		top := s.Off + s.Words - 1
		if w := s.Width % 64; w != 0 && out[top]>>uint(w) != 0 {
			t.Fatalf("cycle %d: port %s has bits above its width %d", e.cycle, e.lay.Ports[s.Port].Name, s.Width)
		}
	}
	if out[o.oRdataReady] != 1 {
		t.Fatalf("cycle %d: mem_rdata_ready = 0", e.cycle)
	}
	rd := []uint64{out[o.oRdValid], out[o.oRdAddr], out[o.oRdBeats]}
	al := []uint64{out[o.oAlValid], out[o.oAlOp], out[o.oAlClass], out[o.oAlPtr]}
	wr := append([]uint64{out[o.oWrValid], out[o.oWrAddr]}, out[o.oWrData:o.oWrData+4]...)
	if e.prevRdHeld && !slices.Equal(rd, e.prevRd) {
		t.Fatalf("cycle %d: mem_rd request changed before it was taken: %v -> %v", e.cycle, e.prevRd, rd)
	}
	if e.prevAlHeld && !slices.Equal(al, e.prevAl) {
		t.Fatalf("cycle %d: al request changed before it was taken: %v -> %v", e.cycle, e.prevAl, al)
	}
	if e.prevWrHeld && !slices.Equal(wr, e.prevWr) {
		t.Fatalf("cycle %d: mem_wr beat changed before it was taken", e.cycle)
	}
	e.prevRd, e.prevAl, e.prevWr = rd, al, wr
	e.prevRdHeld = rd[0] == 1 && e.in[o.iRdReady] == 0
	e.prevAlHeld = al[0] == 1 && e.in[o.iAlReady] == 0
	e.prevWrHeld = wr[0] == 1 && e.in[o.iWrReady] == 0
}

// checkInvariants: at most one operation per index bucket is past BLOCKED
// (engine.md §4).
func (e *env) checkInvariants() {
	st := &e.m.st
	for x := range st.c {
		a := &st.c[x]
		if !a.lock || a.phase == phBlocked || a.phase == phFree {
			continue
		}
		for y := x + 1; y < len(st.c); y++ {
			b := &st.c[y]
			if b.lock && b.phase != phBlocked && b.phase != phFree && b.bucket == a.bucket {
				e.t.Fatalf("cycle %d: contexts %d (%s) and %d (%s) both active on bucket %d",
					e.cycle, x, phName[a.phase], y, phName[b.phase], a.bucket)
			}
		}
	}
}

// response checks one response against the sequential reference.
func (e *env) response() {
	t, o, out := e.t, &e.o, e.out
	tag := uint16(out[o.oRspTag])
	status := uint8(out[o.oRspStatus])
	vlen := int(out[o.oRspVlen])
	value := make([]byte, e.p.V)
	for i := range value {
		value[i] = byteOf(out[o.oRspValue:o.oRspValue+o.valueWords], i)
	}
	e.responses = append(e.responses, event{e.cycle, uint64(tag), uint64(status)})
	e.rspValues[tag] = slices.Clone(value[:min(vlen, len(value))])
	r, ok := e.pending[tag]
	if !ok {
		t.Fatalf("cycle %d: response for tag %d, which is not outstanding", e.cycle, tag)
	}
	delete(e.pending, tag)
	e.got++
	reads, writes, old, al := e.opReads[tag], e.opWrites[tag], e.oldChain[tag], e.opAl[tag]
	delete(e.opAl, tag)
	delete(e.opReads, tag)
	delete(e.opWrites, tag)
	delete(e.oldChain, tag)
	opName := opNames[r.op]
	e.coverage[fmt.Sprintf("%s status %d", opName, status)]++
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("cycle %d: %s key %q (tag %d, bucket %d, accepted %d): %s", e.cycle, opName, r.Key(), tag, r.bucket, r.accepted,
			fmt.Sprintf(format, args...))
	}
	wantValue := func(v []byte) {
		t.Helper()
		if vlen != len(v) || !bytes.Equal(value[:vlen], v) || bytes.Count(value[vlen:], []byte{0}) != len(value)-vlen {
			fail("value %d B %x, want %d B %x", vlen, value[:min(vlen, len(value))], len(v), v)
		}
	}
	if r.refuse != 0 {
		if status != r.refuse {
			fail("status %d, want refusal %d", status, r.refuse)
		}
		wantValue(nil)
		return
	}
	q := e.perBucket[r.bucket]
	if len(q) == 0 || q[0] != tag {
		fail("answered out of its bucket's arrival order (queue %v)", q)
	}
	if len(q) == 1 {
		delete(e.perBucket, r.bucket)
	} else {
		e.perBucket[r.bucket] = q[1:]
	}
	switch status {
	case StatusMemError:
		e.memErrors++
		wantValue(nil)
		return
	case StatusNoMemory:
		if r.op != OpPut {
			fail("NO_MEMORY for a non-PUT")
		}
		e.noMems++
		wantValue(nil)
		return
	}
	if isVector(uint8(r.op)) {
		e.vectorResponse(r, status, vlen, value, reads, writes, al, fail)
		return
	}
	var res hashtable.Result
	switch r.op {
	case OpGet:
		res = e.ref.Get(r.Key())
	case OpPut:
		res = e.ref.Put(r.Key(), r.Value())
		f := e.m.l.FormOf(r.klen, r.vlen)
		if f.Inline {
			e.coverage["PUT inline"]++
		} else {
			e.coverage[fmt.Sprintf("PUT class %d", f.Class)]++
		}
	case OpDelete:
		res = e.ref.Delete(r.Key())
	}
	e.refReads += res.Reads
	e.refWrites += res.Writes
	e.refAllocs += res.Allocs
	e.refFrees += res.Frees
	if status != uint8(res.Status) {
		fail("status %d, reference %v", status, res.Status)
	}
	if reads != res.Reads || len(writes) != res.Writes {
		fail("%d reads and %d writes, reference %d and %d (hashtable.md §5)", reads, len(writes), res.Reads, res.Writes)
	}
	if len(writes) > 0 {
		e.checkWriteOrder(r, old, writes, fail)
	}
	allocs, frees := 0, 0
	for _, a := range al {
		if a.a == AlAlloc {
			allocs++
			continue
		}
		frees++
		if r.op == OpDelete && int(a.b) == e.m.l.BucketClass && frees == 1 && len(al) == 2 {
			e.coverage["DELETE unlink, out-of-line"]++
		} else if r.op == OpDelete && int(a.b) == e.m.l.BucketClass && len(al) == 1 {
			e.coverage["DELETE unlink, inline"]++
		}
	}
	if allocs != res.Allocs || frees != res.Frees {
		fail("%d allocs and %d frees, reference %d and %d", allocs, frees, res.Allocs, res.Frees)
	}
	if r.op == OpGet && res.Status == hashtable.OK {
		if f := e.m.l.FormOf(r.klen, len(res.Value)); f.Inline {
			e.coverage["GET hit inline"]++
		} else {
			e.coverage[fmt.Sprintf("GET hit class %d", f.Class)]++
		}
		wantValue(res.Value)
	} else {
		wantValue(nil)
	}
}

// stepUntil steps until cond holds, at most limit cycles.
func (e *env) stepUntil(cond func() bool, limit int, what string) {
	e.t.Helper()
	for n := 0; !cond(); n++ {
		if n >= limit {
			e.t.Fatalf("cycle %d: %s did not happen within %d cycles\n%s", e.cycle, what, limit, e.m.DescribeState())
		}
		e.step()
	}
}

// runUntilDone steps until every request is answered and the engine is
// idle.
func (e *env) runUntilDone(limit int) {
	lastGot, lastCycle := e.got, e.cycle
	for n := 0; ; n++ {
		if e.got != lastGot || len(e.pending) == 0 {
			lastGot, lastCycle = e.got, e.cycle
		} else if e.cycle-lastCycle > 20000 {
			e.t.Fatalf("cycle %d: no response for 20000 cycles, %d outstanding\n%s", e.cycle, len(e.pending), e.m.DescribeState())
		}
		if len(e.src) == 0 && e.cur == nil && len(e.pending) == 0 && e.m.Idle() && e.alAns == nil && len(e.reads) == 0 {
			return
		}
		if n >= limit {
			e.t.Fatalf("not done after %d cycles: %d requests unsent, %d outstanding\n%s",
				limit, len(e.src), len(e.pending), e.m.DescribeState())
		}
		e.step()
	}
}

// finish checks the drained table and the counts.
func (e *env) finish() {
	t := e.t
	if e.got != e.sent {
		t.Fatalf("%d responses to %d requests", e.got, e.sent)
	}
	if _, err := hashtable.Check(e.cfg, e.mem, e.ref.Ref(), e.alloc); err != nil {
		t.Fatalf("engine's table: %v", err)
	}
	if err := e.ref.Check(); err != nil {
		t.Fatalf("reference table: %v", err)
	}
	s := e.m.Stats()
	if int(s.Responses) != e.got || s.Accepted != uint64(e.sent) {
		t.Fatalf("stats: %d accepted, %d responses; test saw %d, %d", s.Accepted, s.Responses, e.sent, e.got)
	}
	if int(s.ReadTransfers) != e.rdXfers || int(s.ReadBeats) != e.rdBeats {
		t.Fatalf("read data: the model counted %d transfers, %d beats; the memory delivered %d, %d",
			s.ReadTransfers, s.ReadBeats, e.rdXfers, e.rdBeats)
	}
	if e.memErrors != e.injErr {
		t.Fatalf("%d MEM_ERROR responses for %d reads with an error beat", e.memErrors, e.injErr)
	}
	if e.noMems != e.injNoMem || int(s.NoMemory) != e.injNoMem {
		t.Fatalf("%d NO_MEMORY responses (model counted %d) for %d refused allocs", e.noMems, s.NoMemory, e.injNoMem)
	}
	if e.injErr == 0 && e.injNoMem == 0 {
		// Every operation did exactly the reference's accesses (hashtable.md §5).
		if int(s.Reads()) != e.refReads || int(s.Writes()) != e.refWrites || int(s.AllocsOK) != e.refAllocs || int(s.Frees) != e.refFrees {
			t.Fatalf("accesses: engine %d reads, %d writes, %d allocs, %d frees; reference %d, %d, %d, %d",
				s.Reads(), s.Writes(), s.AllocsOK, s.Frees, e.refReads, e.refWrites, e.refAllocs, e.refFrees)
		}
	}
}

// chain maps the addresses of the buckets of an index bucket's chain in
// the engine's memory to their positions.
func (e *env) chain(bucket uint64) map[int64]int {
	l := e.m.l
	m := map[int64]int{}
	addr := int64(bucket) * 64
	for pos := 0; ; pos++ {
		var raw [64]byte
		e.mem.Read(addr, raw[:])
		m[addr] = pos
		b := l.Decode(&raw)
		if !b.Valid || pos > 1000 {
			return m
		}
		addr = l.Addr(b.Next)
	}
}

// checkWriteOrder: a plan writes its objects first, then a new bucket, then
// the existing buckets that changed, once each, in ascending chain position
// (engine.md §6.4, §6.6; hashtable.md §4.3 step 7).
func (e *env) checkWriteOrder(r *request, old map[int64]int, writes []int64, fail func(string, ...any)) {
	now := e.chain(r.bucket)
	stage, lastPos := 0, -1 // 0 objects, 1 the new bucket, 2 existing buckets
	var shape []string
	for _, a := range writes {
		pos, existing := old[a]
		_, inChain := now[a]
		switch {
		case existing:
			if pos <= lastPos {
				fail("writes %#x: existing buckets not once each in ascending chain position (chain %v)", writes, old)
			}
			stage, lastPos = 2, pos
			shape = append(shape, fmt.Sprint("b", pos))
		case inChain:
			if stage > 1 {
				fail("writes %#x: the new bucket after an existing one", writes)
			}
			stage = 1
			shape = append(shape, "new")
		default:
			if stage > 0 {
				fail("writes %#x: an object written after a bucket", writes)
			}
			shape = append(shape, "obj")
		}
	}
	e.orderChecked++
	e.coverage[fmt.Sprintf("%s writes %v", opNames[r.op], shape)]++
}

var opNames = [...]string{"GET", "PUT", "DELETE", "op3", "UPDATE_S2V", "UPDATE_V2V", "REDUCE", "FILTER"}

// vectorResponse checks a vector operation's response against the
// sequential reference (engine.md §6.7): GET's reads, then golden/vector's
// Exec on the reference value; an update that did not fail writes once, in
// place, and the reference takes the new value in place too.
func (e *env) vectorResponse(r *request, status uint8, vlen int, value []byte, reads int, writes []int64, al []event,
	fail func(string, ...any)) {
	t := e.t
	t.Helper()
	res := e.ref.Get(r.Key())
	e.refReads += res.Reads
	if reads != res.Reads {
		fail("%d reads, want GET's %d", reads, res.Reads)
	}
	if len(al) != 0 {
		fail("slab requests %v: a vector operation allocates and frees nothing", al)
	}
	wantValue := func(want []byte) {
		t.Helper()
		if vlen != len(want) || !bytes.Equal(value[:vlen], want) || bytes.Count(value[vlen:], []byte{0}) != len(value)-vlen {
			fail("value %d B %x, want %d B %x", vlen, value[:min(vlen, len(value))], len(want), want)
		}
	}
	if res.Status != hashtable.OK {
		if status != StatusNotFound {
			fail("status %d, want NOT_FOUND", status)
		}
		if len(writes) != 0 {
			fail("not found, but wrote %#x", writes)
		}
		wantValue(nil)
		return
	}
	vr := e.vectorRequest(r, res.Value)
	want, err := vector.Exec(e.ev, vr)
	if err != nil {
		t.Fatal(err)
	}
	e.vecChecked++
	f := e.m.l.FormOf(r.klen, len(res.Value))
	form := "inline"
	if !f.Inline {
		form = "out-of-line"
	}
	e.coverage[fmt.Sprintf("%s %s", opNames[r.op], form)]++
	if want.Fault {
		if status != StatusLambdaFault {
			fail("status %d, want LAMBDA_FAULT (%s)", status, vector.Describe(e.ev, vr, want))
		}
		e.coverage[fmt.Sprintf("%s fault at %d", opNames[r.op], min(want.FaultAt, 1))]++
		if len(writes) != 0 {
			fail("λ fault, but wrote %#x", writes)
		}
		wantValue(nil)
		return
	}
	if status != StatusOK {
		fail("status %d, want OK (%s)", status, vector.Describe(e.ev, vr, want))
	}
	wantValue(want.Resp)
	if r.op == OpReduce || r.op == OpFilter {
		if len(writes) != 0 {
			fail("%s wrote %#x", opNames[r.op], writes)
		}
		return
	}
	if len(writes) != 1 {
		fail("%d writes %#x, want one write in place", len(writes), writes)
	}
	e.refWrites++
	// The write landed in place: the bucket of the chain holding the KV, or
	// its object; memory there now holds the new value.
	a := writes[0]
	if f.Inline {
		var raw [hashtable.BucketBytes]byte
		e.mem.Read(a, raw[:])
		B := e.m.l.Decode(&raw)
		j, ok := e.m.l.MatchInline(&B, r.Key())
		if _, inChain := e.chain(r.bucket)[a]; !inChain || !ok {
			fail("inline update wrote %#x, not the chain's bucket holding the key", a)
		}
		if _, v, _, _ := e.m.l.InlineKV(&B, j); !bytes.Equal(v, want.New) {
			fail("bucket at %#x holds %x, want %x", a, v, want.New)
		}
	} else {
		obj := make([]byte, e.m.l.Classes[f.Class])
		e.mem.Read(a, obj)
		k, v, ok := e.m.l.ParseObject(obj)
		if !ok || !bytes.Equal(k, r.Key()) || !bytes.Equal(v, want.New) {
			fail("object at %#x holds key %q value %x, want %q %x", a, k, v, r.Key(), want.New)
		}
	}
	e.refUpdateInPlace(r.Key(), want.New)
}

// vectorRequest is what the engine presents to kvd_vec for r on the stored
// value v (engine.md §8A).
func (e *env) vectorRequest(r *request, v []byte) vector.Request {
	vr := vector.Request{Op: vector.Op(r.op - OpUpdateS2V), Fid: r.fid, Value: v, Delta: r.delta, Cmp: r.cmp, Swap: r.swap}
	if r.op == OpUpdateV2V {
		vr.Dvec = r.Value()
	}
	return vr
}

// refUpdateInPlace gives key the value nv (of the same length) in the
// reference table as engine.md §6.7 does: in place. Put updates the
// oracle map and, for an out-of-line KV, rewrites its object in place; an
// inline KV it may move within its bucket, so that bucket is then
// rewritten with only the value bytes replaced, which keeps the reference
// layout (and so every later operation's accesses) the engine's.
func (e *env) refUpdateInPlace(key, nv []byte) {
	t := e.t
	l, mem := e.ref.Layout(), e.ref.Memory()
	b, _, _ := e.hash.Bytes(key)
	addr, fixAddr := int64(b)*hashtable.BucketBytes, int64(-1)
	var fix [hashtable.BucketBytes]byte
	for pos := 0; pos < 100000; pos++ {
		var raw [hashtable.BucketBytes]byte
		mem.Read(addr, raw[:])
		B := l.Decode(&raw)
		if j, ok := l.MatchInline(&B, key); ok {
			_, v, _, _ := l.InlineKV(&B, j)
			if len(v) != len(nv) {
				t.Fatalf("reference update of %q: %d B stored, %d B new", key, len(v), len(nv))
			}
			copy(v, nv)
			fix, fixAddr = l.Encode(&B), addr
			break
		}
		if !B.Valid {
			break
		}
		addr = l.Addr(B.Next)
	}
	if r := e.ref.Put(key, nv); r.Status != hashtable.OK || r.Allocs != 0 || r.Frees != 0 {
		t.Fatalf("reference update of %q: %+v", key, r)
	}
	if fixAddr >= 0 {
		mem.Write(fixAddr, fix[:])
	}
}
