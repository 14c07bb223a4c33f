package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// randomOp draws operations the decoder issues, from small sets of sizes
// and values so that both flags apply often.
func randomOp(rng *rand.Rand, p Params) Op {
	klens := []int{1, 4, 8, p.MaxKeyBytes}
	key := make([]byte, klens[rng.IntN(len(klens))])
	for i := range key {
		key[i] = byte(rng.IntN(4))
	}
	values := [][]byte{nil, {1}, {1, 2}, bytes.Repeat([]byte{7}, min(54, p.MaxValueBytes)), bytes.Repeat([]byte{9}, p.MaxValueBytes)}
	fid := uint8(rng.IntN(16))
	scalar := func() uint64 { return []uint64{0, 1, 5, 1 << 63}[rng.IntN(4)] }
	switch Opcode(rng.IntN(int(NumOpcodes))) {
	case OpGet:
		return Get(key)
	case OpPut:
		return Put(key, values[rng.IntN(len(values))])
	case OpDelete:
		return Delete(key)
	case OpUpdateS2S:
		return UpdateScalar(key, fid, scalar(), scalar(), scalar())
	case OpUpdateS2V:
		return UpdateScalarToVector(key, fid, scalar(), scalar(), scalar())
	case OpUpdateV2V:
		return UpdateVectorToVector(key, fid, bytes.Repeat([]byte{3}, p.ElementBytes*(1+rng.IntN(4))))
	case OpReduce:
		return Reduce(key, fid, scalar(), scalar(), scalar())
	default:
		return Filter(key, fid, scalar(), scalar(), scalar())
	}
}

func randomBatch(rng *rand.Rand, p Params, n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		if i > 0 && rng.IntN(3) == 0 {
			ops[i] = ops[i-1] // a repeat: both flags apply
			ops[i].Key = []byte{byte(i), byte(i >> 8)}
			if len(ops[i-1].Key) > 2 {
				ops[i].Key = append(ops[i].Key, ops[i-1].Key[2:]...)
			}
			continue
		}
		ops[i] = randomOp(rng, p)
	}
	return ops
}

// randomFlags picks, per operation, any subset of the applicable flags:
// the decoder must accept every form a client may choose, not only the
// encoder's maximal one.
func randomFlags(rng *rand.Rand, ops []Op) []Flags {
	fs := make([]Flags, len(ops))
	for i := 1; i < len(ops); i++ {
		fs[i] = applicable(&ops[i-1], &ops[i]) & Flags(rng.IntN(4)<<6)
	}
	return fs
}

func TestRequestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		ops := randomBatch(rng, simParams, rng.IntN(40))
		var flags []Flags
		if trial%2 == 1 {
			flags = randomFlags(rng, ops)
		}
		pkt, err := EncodeRequest(Request{Seq: rng.Uint32(), Ops: ops, Flags: flags})
		if err != nil {
			t.Fatal(err)
		}
		d := DecodeRequest(pkt, simParams)
		if d.Err != NoPacketError || len(d.Ops) != len(ops) || d.Trailing != 0 {
			t.Fatalf("trial %d: decoded err %v, %d ops, %d trailing; want %d ops", trial, d.Err, len(d.Ops), d.Trailing, len(ops))
		}
		for i, o := range d.Ops {
			f := Flags(0)
			switch {
			case flags != nil:
				f = flags[i]
			case i > 0:
				f = applicable(&ops[i-1], &ops[i])
			}
			if !o.Op.Equal(ops[i]) || o.Flags != f || o.Status != OK {
				t.Fatalf("trial %d op %d: got %v flags %v status %v, want %v flags %v OK", trial, i, o.Op, o.Flags, o.Status, ops[i], f)
			}
		}
		r, ok := d.Request()
		if !ok {
			t.Fatalf("trial %d: decoded request not re-encodable", trial)
		}
		again, err := EncodeRequest(r)
		if err != nil || !bytes.Equal(again, pkt) {
			t.Fatalf("trial %d: re-encoding differs: %v\n%x\n%x", trial, err, again, pkt)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	statuses := []Status{OK, NotFound, EmptyKey, NoMemory, BadOp, LambdaFault, Truncated, LengthPastEnd}
	for trial := range 2000 {
		results := make([]Result, rng.IntN(60))
		for i := range results {
			results[i].Status = statuses[rng.IntN(len(statuses))]
			if n := rng.IntN(3); n > 0 {
				results[i].Value = bytes.Repeat([]byte{byte(i)}, []int{0, 8, 478}[n])
			}
		}
		maxBytes := []int{ResponseHeaderBytes + 3, 200, DefaultMaxResponseBytes, MaxPacketBytes}[rng.IntN(4)]
		seq, trailing := rng.Uint32(), rng.IntN(2) == 0
		var got []Result
		split := SplitResponse(seq, trailing, results, maxBytes)
		for i, r := range split {
			pkt, err := EncodeResponse(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) > maxBytes && len(r.Results) > 1 {
				t.Fatalf("trial %d: packet %d of %d bytes holds %d records, limit %d", trial, i, len(pkt), len(r.Results), maxBytes)
			}
			back, err := DecodeResponse(pkt)
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			if back.Seq != seq || back.Trailing != (trailing && i == len(split)-1) || back.First != len(got) || back.Err != NoPacketError {
				t.Fatalf("trial %d packet %d: header %+v, want seq %d trailing %v first %d", trial, i, back, seq, trailing, len(got))
			}
			got = append(got, back.Results...)
		}
		if len(got) != len(results) {
			t.Fatalf("trial %d: %d records back, sent %d", trial, len(got), len(results))
		}
		for i := range got {
			if got[i].Status != results[i].Status || !bytes.Equal(got[i].Value, results[i].Value) {
				t.Fatalf("trial %d record %d: %+v, want %+v", trial, i, got[i], results[i])
			}
		}
	}
}

// TestSplitIsGreedy pins §6's rule: a packet is closed only when the next
// record would not fit.
func TestSplitIsGreedy(t *testing.T) {
	results := make([]Result, 100)
	for i := range results {
		results[i] = Result{Value: make([]byte, i%17)}
	}
	rs := SplitResponse(1, false, results, 100)
	for i, r := range rs[:len(rs)-1] {
		size := ResponseHeaderBytes
		for _, x := range r.Results {
			size += 3 + len(x.Value)
		}
		next := rs[i+1].Results[0]
		if size+3+len(next.Value) <= 100 {
			t.Fatalf("packet %d closed at %d bytes though the next %d-byte record fits", i, size, 3+len(next.Value))
		}
	}
	if got := SplitResponse(9, true, nil, 100); len(got) != 1 || len(got[0].Results) != 0 || got[0].Seq != 9 || !got[0].Trailing {
		t.Fatalf("empty request: %+v, want one empty response", got)
	}
}

func TestBatcher(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		maxBytes := []int{128, 600, 1472, 9000}[trial%4]
		maxOps := []int{0, 1, 7, 0}[rng.IntN(4)]
		b, err := NewBatcher(maxBytes, maxOps, 0xFFFFFFFE)
		if err != nil {
			t.Fatal(err)
		}
		p := simParams
		p.MaxValueBytes = 40 // keep every operation under the 128-byte limit
		ops := randomBatch(rng, p, 500)
		var pkts []*Packet
		for _, op := range ops {
			pkt, err := b.Add(op)
			if err != nil {
				t.Fatal(err)
			}
			if pkt != nil {
				pkts = append(pkts, pkt)
			}
		}
		if pkt := b.Flush(); pkt != nil {
			pkts = append(pkts, pkt)
		}
		if b.Pending() != 0 || b.Flush() != nil {
			t.Fatal("flushed batcher still holds operations")
		}
		var got []Op
		for i, pkt := range pkts {
			if len(pkt.Bytes) > maxBytes || maxOps > 0 && len(pkt.Ops) > maxOps {
				t.Fatalf("trial %d packet %d: %d bytes, %d ops; limits %d, %d", trial, i, len(pkt.Bytes), len(pkt.Ops), maxBytes, maxOps)
			}
			if want := uint32(0xFFFFFFFE) + uint32(i); pkt.Seq != want {
				t.Fatalf("packet %d seq %d, want %d", i, pkt.Seq, want)
			}
			d := DecodeRequest(pkt.Bytes, simParams)
			for j, o := range d.Ops {
				if o.Status != OK || j > 0 && o.Flags != applicable(&pkt.Ops[j-1], &pkt.Ops[j]) {
					t.Fatalf("packet %d op %d: status %v flags %v", i, j, o.Status, o.Flags)
				}
				got = append(got, o.Op)
			}
			// Greedy: the next packet's first operation did not fit here.
			if i+1 < len(pkts) && (maxOps == 0 || len(pkt.Ops) < maxOps) {
				next := pkts[i+1].Ops[0]
				last := pkt.Ops[len(pkt.Ops)-1]
				if len(pkt.Bytes)+opBytes(&next, applicable(&last, &next)) <= maxBytes {
					t.Fatalf("trial %d: packet %d closed at %d bytes though the next operation fits", trial, i, len(pkt.Bytes))
				}
			}
		}
		if len(got) != len(ops) {
			t.Fatalf("trial %d: %d operations came out of %d", trial, len(got), len(ops))
		}
		for i := range ops {
			if !got[i].Equal(ops[i]) {
				t.Fatalf("trial %d op %d: %v, want %v", trial, i, got[i], ops[i])
			}
		}
	}
}

func TestBatcherRefusals(t *testing.T) {
	b, err := NewBatcher(64, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(Put([]byte("k"), make([]byte, 60))); err == nil {
		t.Error("an operation larger than any packet was accepted")
	}
	if _, err := b.Add(Get(make([]byte, 256))); err == nil {
		t.Error("a 256-byte key was accepted")
	}
	if b.Pending() != 0 {
		t.Error("a refused operation was kept")
	}
	for _, lim := range [][2]int{{14, 0}, {MaxPacketBytes + 1, 0}, {100, -1}, {100, MaxOps + 1}} {
		if _, err := NewBatcher(lim[0], lim[1], 0); err == nil {
			t.Errorf("NewBatcher(%d, %d) accepted", lim[0], lim[1])
		}
	}
}

func TestEncodeRequestRefusals(t *testing.T) {
	ops := []Op{Get([]byte("a")), Get([]byte("bb"))}
	for _, r := range []Request{
		{Ops: []Op{{Code: 64, Key: []byte("k")}}},
		{Ops: []Op{Get(make([]byte, 256))}},
		{Ops: []Op{Put([]byte("k"), make([]byte, MaxPacketBytes+1))}},
		{Ops: []Op{Put([]byte("k"), make([]byte, MaxPacketBytes-10))}},
		{Ops: ops, Flags: []Flags{0}},
		{Ops: ops, Flags: []Flags{SameValue, 0}}, // a flag on operation 0
		{Ops: ops, Flags: []Flags{0, SameSizes}}, // key lengths differ
		{Ops: ops, Flags: []Flags{0, 0x01}},      // not a flag bit
		{Ops: make([]Op, MaxOps+1)},
	} {
		if _, err := EncodeRequest(r); err == nil {
			t.Errorf("EncodeRequest accepted %d ops, flags %v", len(r.Ops), r.Flags)
		}
	}
}
