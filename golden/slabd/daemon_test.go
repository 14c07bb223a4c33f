package slabd

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hashtable"
	"github.com/kvdirect/kvd/golden/hostmem"
)

var _ Memory = (*hostmem.Memory)(nil)

func newDaemon(t *testing.T, heap int64) (*Daemon, *hostmem.Memory) {
	t.Helper()
	cfg, _ := config.Preset("sim")
	mem := hostmem.New(cfg.Memory.HostBytes)
	d, err := New(cfg, mem, Options{HeapBytes: heap})
	if err != nil {
		t.Fatal(err)
	}
	return d, mem
}

func TestCarveAndTick(t *testing.T) {
	d, mem := newDaemon(t, 0)
	cfg, _ := config.Preset("sim")
	if d.HeapBase() != cfg.HeapBase() || d.HeapEnd() != cfg.Memory.HostBytes {
		t.Fatalf("heap [%#x, %#x)", d.HeapBase(), d.HeapEnd())
	}
	free := d.FreeSlabs()
	if int64(len(free)) != d.HeapBytes()/512 {
		t.Fatalf("%d slabs carved, want %d of 512 B", len(free), d.HeapBytes()/512)
	}
	for _, s := range free {
		if s.Class != 4 {
			t.Fatalf("carved %+v, want only 512 B slabs from a 4 KiB-aligned heap", s)
		}
	}
	// Ticks: the first polls, then one per period (1000 ns at 180 MHz).
	polls := 0
	for cyc := uint64(0); cyc < 1000; cyc++ {
		if d.Tick(cyc) {
			polls++
			if cyc%180 != 0 {
				t.Errorf("poll at cycle %d", cyc)
			}
		}
	}
	if polls != 6 || d.Period() != 180 {
		t.Errorf("%d polls in 1000 cycles, period %d", polls, d.Period())
	}
	// After the first poll: every refill ring holds T = RN/2B = 4 batches;
	// class 0's first batch is the lowest 512 B slab cut in 16, in order.
	ctrl, ring := cfg.SlabCtrlBase(), cfg.SlabRingBase()
	for c := 0; c < 5; c++ {
		if p, f := mem.U32(ctrl+128*int64(c)+64), mem.U32(ctrl+128*int64(c)+72); p != 64 || f != 0 {
			t.Errorf("class %d host line: rf_prod %d flags %d", c, p, f)
		}
	}
	base := uint32(cfg.HeapBase() / 32)
	for i := 0; i < 16; i++ {
		if e := mem.U32(ring + 4*int64(i)); e != base+uint32(i) {
			t.Fatalf("class 0 refill entry %d = %#x, want %#x", i, e, base+uint32(i))
		}
	}
	if st := d.Stats(); st.RefillBatches != 20 || st.Splits != 4+8+16+32 || st.Exhausted != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A flushed pointer that cannot be a slab the daemon handed out is
// rejected, never listed: a double free must not become two allocations.
func TestDrainRejects(t *testing.T) {
	d, mem := newDaemon(t, 0)
	cfg, _ := config.Preset("sim")
	d.Poll()
	nl, fr := cfg.SlabCtrlBase()+128*2, cfg.SlabRingBase()+8*128*2+4*128
	// The NIC consumes class 2's first batch and flushes back 16 entries:
	// 12 of them, one of those twice, a misaligned one, one outside the
	// heap, and one already free in the daemon.
	batch := make([]uint32, 16)
	for i := range batch {
		batch[i] = mem.U32(cfg.SlabRingBase() + 8*128*2 + 4*int64(i))
	}
	mem.PutU32(nl, 16)
	flush := append([]uint32(nil), batch[:12]...)
	flush = append(flush, batch[0], batch[1]+1, 5, uint32(d.free[4][0]))
	buf := make([]byte, 64)
	for i, e := range flush {
		binary.LittleEndian.PutUint32(buf[4*i:], e)
	}
	mem.Write(fr, buf)
	mem.PutU32(nl+4, 16)
	d.Poll()
	st := d.Stats()
	if st.Rejected != 4 || st.FlushEntries != 12 || st.FlushBatches != 1 {
		t.Errorf("stats %+v: want 4 rejected, 12 taken back", st)
	}
	if fc := mem.U32(cfg.SlabCtrlBase() + 128*2 + 64 + 4); fc != 16 {
		t.Errorf("fl_cons %d after draining a batch", fc)
	}
	// A flush index that is not whole batches is a protocol error.
	mem.PutU32(nl+4, 20)
	d.Poll()
	if d.Stats().ProtocolErrors != 1 {
		t.Errorf("stats %+v", d.Stats())
	}
}

// Split when a class runs low; merge lazily, only when it runs dry and no
// larger class can be split; the exhausted flag when nothing helps.
func TestSplitMergeExhausted(t *testing.T) {
	d, _ := newDaemon(t, 8192) // 16 slabs of 512 B
	buf := make([]uint64, 256)
	if n := d.take(0, buf); n != 256 || d.stats.Splits != 16 || d.stats.FreeBytes != 0 {
		t.Fatalf("took %d 32 B slabs with %d splits", n, d.stats.Splits)
	}
	if n := d.take(0, buf[:1]); n != 0 {
		t.Fatal("took a slab from an empty heap")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(256, func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
	for _, p := range buf[:255] {
		d.giveBack(0, p)
	}
	kept := buf[255]
	got := make([]uint64, 16)
	n := d.take(4, got)
	if n != 15 || d.stats.MergePasses != 1 {
		t.Fatalf("took %d 512 B slabs after %d merge passes, want the 15 whole ones in one pass", n, d.stats.MergePasses)
	}
	keptBlock := (kept * 32) &^ 511
	for _, p := range got[:n] {
		if p*32 == keptBlock {
			t.Fatalf("handed out the 512 B block that holds a slab still in use")
		}
	}
	// The kept slab's block became the largest aligned pieces around it:
	// 15 granules in 4 slabs (one each of 256, 128, 64, 32 B). 255 slabs
	// became 15 + 4: 236 merges.
	if d.stats.FreeBytes != 15*32 || d.stats.Merges != 236 || len(d.free[0])+len(d.free[1])+len(d.free[2])+len(d.free[3]) != 4 {
		t.Errorf("free %d B, %d merges, lists %v; want 480 B in 4 slabs and 236 merges", d.stats.FreeBytes, d.stats.Merges, d.free)
	}
	// Nothing given back since: no second merge pass, and the class is
	// exhausted at the next poll.
	if n := d.take(4, got); n != 0 || d.stats.MergePasses != 1 {
		t.Errorf("took %d, %d merge passes", n, d.stats.MergePasses)
	}
	d.topUp(4)
	if !d.Exhausted(4) || d.stats.Exhausted != 1 {
		t.Errorf("class 4 not flagged exhausted: %+v", d.stats)
	}
	// Class 0 can still be served (by splitting the 256 B piece and the
	// others); its batch comes out short, padded with nulls.
	d.topUp(0)
	if !d.Exhausted(0) || d.stats.RefillEntries != 15 || d.stats.PadEntries != 1 {
		t.Errorf("class 0: %+v", d.stats)
	}
}

func TestCheckFindsEveryKindOfFault(t *testing.T) {
	d, mem := newDaemon(t, 64*1024)
	d.Poll()
	r, err := Check(d, mem, nil, nil)
	if err != nil || r.Free != r.TotalGranules || r.Granules[PlaceRefill] == 0 || r.Granules[PlaceDaemon] == 0 {
		t.Fatalf("fresh daemon: %v %+v", err, r)
	}
	// One slab taken out of the daemon and given to "someone".
	one := make([]uint64, 1)
	d.take(3, one)
	s := hashtable.Slab{Ptr: one[0], Class: 3}
	inList := hashtable.Slab{Ptr: d.free[4][0], Class: 4}
	cases := []struct {
		name         string
		nic, clients []hashtable.Slab
		want         string
		count        func(*Report) int
	}{
		{"held by a client", nil, []hashtable.Slab{s}, "", nil},
		{"held by the NIC", []hashtable.Slab{s}, nil, "", nil},
		{"lost", nil, nil, "lost", func(r *Report) int { return r.LostRuns }},
		{"in two stacks", []hashtable.Slab{s, s}, nil, "duplicated", func(r *Report) int { return r.Duplicated }},
		{"free and in use", []hashtable.Slab{s}, []hashtable.Slab{s}, "both free and in use", func(r *Report) int { return r.FreeAndUsed }},
		{"in a free list and in use", nil, []hashtable.Slab{s, inList}, "both free and in use", func(r *Report) int { return r.FreeAndUsed }},
		{"in use twice", nil, []hashtable.Slab{s, s}, "in use twice", func(r *Report) int { return r.UsedTwice }},
		{"misaligned", nil, []hashtable.Slab{s, {Ptr: s.Ptr + 1, Class: 1}}, "not aligned", func(r *Report) int { return r.Misplaced }},
	}
	for _, c := range cases {
		r, err := Check(d, mem, c.nic, c.clients)
		if c.want == "" {
			if err != nil || r.Used+r.Free != r.TotalGranules {
				t.Errorf("%s: %v %+v", c.name, err, r)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || c.count(r) != 1 {
			t.Errorf("%s: want one %q, got %v", c.name, c.want, err)
		}
	}
	d.bits[0] ^= 1 << 63
	if r, err := Check(d, mem, nil, []hashtable.Slab{s}); err == nil || r.BitmapMismatch != 1 {
		t.Errorf("a flipped bitmap bit: %v", err)
	}
}
