package hashtable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/golden/keyhash"
)

// where is one bucket of the table: chain of index bucket idx, position pos.
type where struct {
	idx  uint64
	pos  int
	addr int64
	b    Bucket
}

// name is how the checker names the bucket.
func (w where) name() string {
	if w.pos == 0 {
		return fmt.Sprintf("bucket %d", w.idx)
	}
	return fmt.Sprintf("bucket %d chain link %d (slab %#x)", w.idx, w.pos, w.addr/32)
}

func buckets(tb *Table) []where {
	l := tb.Layout()
	var out []where
	for idx := uint64(0); idx < uint64(l.IndexBytes/BucketBytes); idx++ {
		addr := int64(idx) * BucketBytes
		for pos := 0; ; pos++ {
			var raw [BucketBytes]byte
			tb.Memory().Read(addr, raw[:])
			b := l.Decode(&raw)
			out = append(out, where{idx, pos, addr, b})
			if !b.Valid {
				break
			}
			addr = l.Addr(b.Next)
		}
	}
	return out
}

func store(tb *Table, w where) {
	raw := tb.Layout().Encode(&w.b)
	tb.Memory().Write(w.addr, raw[:])
}

// find returns the first bucket (and slot) satisfying ok.
func find(t *testing.T, tb *Table, ok func(w where, j int) bool) (where, int) {
	t.Helper()
	for _, w := range buckets(tb) {
		for j := 0; j < tb.Layout().Slots; j++ {
			if ok(w, j) {
				return w, j
			}
		}
	}
	t.Fatal("no such bucket in the test table")
	return where{}, 0
}

// checkTable builds a valid table with inline and out-of-line KVs and
// chains: 4 index buckets, 60 KVs.
func checkTable(t *testing.T) (*Table, *SimpleAllocator) {
	t.Helper()
	tb, a := newTable(t, small(t, 4), 0)
	rng := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 60; i++ {
		vl := []int{3, 20, 100, 300}[i%4]
		if r := tb.Put(randomBytes(rng, 1+i%8), randomBytes(rng, vl)); r.Status != OK {
			t.Fatal(r.Status)
		}
	}
	if st := mustCheck(t, tb); st.ChainedBuckets < 4 || st.Inline == 0 || st.OutOfLine == 0 {
		t.Fatalf("test table too plain: %+v", st)
	}
	return tb, a
}

func TestCheckerCatches(t *testing.T) {
	l := layout(t, small(t, 4))
	isOOL := func(w where, j int) bool { return l.Kind(&w.b, j) == OutOfLine }
	isStart := func(w where, j int) bool { return l.Kind(&w.b, j) == InlineStart }
	isEmpty := func(w where, j int) bool { return l.Kind(&w.b, j) == Empty }
	chained := func(w where, j int) bool { return w.pos > 0 && j == 0 }

	cases := []struct {
		name    string
		corrupt func(t *testing.T, tb *Table, a *SimpleAllocator) (want []string)
	}{
		{"bitmap bit in an empty slot", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, isEmpty)
			w.b.Bitmap |= 1 << uint(l.SlotBytes*j+2)
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d: empty slot", j)}
		}},
		{"K mark cleared", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, func(w where, j int) bool {
				k, v, _, _ := l.InlineKV(&w.b, j)
				return isStart(w, j) && len(v) > 0 && len(k) > 0
			})
			k, _, _, _ := l.InlineKV(&w.b, j)
			w.b.Bitmap &^= 1 << uint(l.SlotBytes*j+len(k)-1)
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d", j), fmt.Sprintf("key %x: in the reference map, not in the table", k)}
		}},
		{"third mark", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, func(w where, j int) bool {
				k, _, _, _ := l.InlineKV(&w.b, j)
				return isStart(w, j) && len(k) > 1
			})
			w.b.Bitmap |= 1 << uint(l.SlotBytes*j)
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d: inline KV over slots", j), "malformed bitmap marks"}
		}},
		{"leaked slab", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			p, _ := a.Alloc(3)
			return []string{fmt.Sprintf("slab %#x (256 B) is allocated but nothing references it (leaked)", p)}
		}},
		{"object linked twice", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			src, j := find(t, tb, isOOL)
			dst, k := find(t, tb, func(w where, k int) bool { return w.idx != src.idx && isEmpty(w, k) })
			dst.b.Type[k] = src.b.Type[j]
			copy(dst.b.Data[l.SlotBytes*k:], src.b.Data[l.SlotBytes*j:l.SlotBytes*(j+1)])
			store(tb, dst)
			return []string{dst.name() + fmt.Sprintf(" slot %d: slab %#x is already used by %s slot %d", k, l.SlotPtr(&src.b, j), src.name(), j)}
		}},
		{"bucket linked twice", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			other, _ := find(t, tb, chained)
			last, _ := find(t, tb, func(w where, j int) bool { return w.idx != other.idx && !w.b.Valid })
			var idxBucket where
			for _, w := range buckets(tb) {
				if w.idx == other.idx && w.pos == other.pos-1 {
					idxBucket = w
				}
			}
			last.b.Next, last.b.Valid = idxBucket.b.Next, true
			store(tb, last)
			return []string{fmt.Sprintf("slab %#x is already used by bucket %d chain link %d", idxBucket.b.Next, other.idx, other.pos)}
		}},
		{"referenced slab freed", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, isOOL)
			a.Free(l.SlotPtr(&w.b, j), int(w.b.Type[j]))
			return []string{w.name() + fmt.Sprintf(" slot %d: slab %#x", j, l.SlotPtr(&w.b, j)), "is free in the allocator"}
		}},
		{"reserved type code", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, isEmpty)
			w.b.Type[j] = 5
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d: type code 5 is reserved", j)}
		}},
		{"inline-cont without start", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, func(w where, j int) bool { return isEmpty(w, j) && (j == 0 || isEmpty(w, j-1)) })
			w.b.Type[j] = l.TypeCont
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d: inline-cont slot without an inline-start", j)}
		}},
		{"wrong secondary hash", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, isOOL)
			v := l.slotValue(&w.b, j) ^ 1<<uint(l.PtrBits)
			l.setSlotValue(&w.b, j, v)
			store(tb, w)
			return []string{w.name() + fmt.Sprintf(" slot %d: secondary hash", j)}
		}},
		{"value byte changed", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, func(w where, j int) bool {
				_, v, _, _ := l.InlineKV(&w.b, j)
				return isStart(w, j) && len(v) > 0
			})
			k, _, _, _ := l.InlineKV(&w.b, j)
			w.b.Data[l.SlotBytes*j+len(k)] ^= 0xff
			store(tb, w)
			return []string{fmt.Sprintf("key %x (%s slot %d): value", k, w.name(), j)}
		}},
		{"object header", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, j := find(t, tb, isOOL)
			tb.Memory().Write(l.Addr(l.SlotPtr(&w.b, j)), []byte{0xff, 0xff})
			return []string{w.name() + fmt.Sprintf(" slot %d: object", j), "does not fit"}
		}},
		{"chain valid without next", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, _ := find(t, tb, func(w where, j int) bool { return !w.b.Valid })
			w.b.Valid = true
			store(tb, w)
			return []string{w.name() + ": chain valid is 1 with a null next pointer"}
		}},
		{"empty chained bucket", func(t *testing.T, tb *Table, a *SimpleAllocator) []string {
			w, _ := find(t, tb, chained)
			for j := 0; j < l.Slots; j++ {
				if isOOL(w, j) {
					a.Free(l.SlotPtr(&w.b, j), int(w.b.Type[j]))
				}
			}
			l.clearSlots(&w.b, 0, l.Slots)
			store(tb, w)
			return []string{w.name() + ": chained bucket is empty"}
		}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			tb, a := checkTable(t)
			want := c.corrupt(t, tb, a)
			err := tb.Check()
			if err == nil {
				t.Fatal("the checker found nothing")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// A key in the table under a secondary-hash twin: GET reads the twin's
// object, rejects it on the full key, and reads on.
func TestSecondaryHashCollision(t *testing.T) {
	cfg := small(t, 2)
	rng := rand.New(rand.NewPCG(5, 6))
	bySec := map[[2]uint64][]byte{}
	var a, b []byte
	for a == nil {
		k := randomBytes(rng, 6)
		bk, sec, _ := keyhash.Hash(cfg, k)
		if prev, ok := bySec[[2]uint64{bk, sec}]; ok && !bytes.Equal(prev, k) {
			a, b = prev, k
		}
		bySec[[2]uint64{bk, sec}] = k
	}
	tb, _ := newTable(t, cfg, 0)
	va, vb := bytes.Repeat([]byte{'a'}, 200), bytes.Repeat([]byte{'b'}, 200)
	expect(t, "PUT a", tb.Put(a, va), OK, cost{1, 2, 1, 0})
	expect(t, "PUT b (reads a to rule it out)", tb.Put(b, vb), OK, cost{2, 2, 1, 0})
	r := tb.Get(b)
	expect(t, "GET b", r, OK, cost{3, 0, 0, 0})
	if !bytes.Equal(r.Value, vb) {
		t.Fatalf("GET b returned a's value")
	}
	expect(t, "GET a", tb.Get(a), OK, cost{2, 0, 0, 0})
	mustCheck(t, tb)
}

func TestCheckerReservedBitsAndLoops(t *testing.T) {
	cfg := wideConfig(t) // 491 layout bits: 21 reserved
	tb, _ := newTable(t, cfg, 0)
	keys := collide(cfg, 3, 4, 30, 8)
	for _, k := range keys {
		if r := tb.Put(k, []byte("0123456789")); r.Status != OK {
			t.Fatal(r.Status)
		}
	}
	mustCheck(t, tb)
	var last where
	for _, w := range buckets(tb) {
		if w.idx == 3 && !w.b.Valid {
			last = w
		}
	}
	if last.pos < 2 {
		t.Fatalf("chain of bucket 3 only %d deep", last.pos+1)
	}
	first := buckets(tb)[0]
	mem := tb.Memory().Clone()
	var raw [BucketBytes]byte
	mem.Read(first.addr, raw[:])
	raw[63] |= 0x40
	mem.Write(first.addr, raw[:])
	// Loop the chain of bucket 3 back to its first chained bucket.
	var b3 [BucketBytes]byte
	mem.Read(3*BucketBytes, b3[:])
	head := tb.Layout().Decode(&b3)
	last.b.Next, last.b.Valid = head.Next, true
	raw = tb.Layout().Encode(&last.b)
	mem.Write(last.addr, raw[:])
	_, err := Check(cfg, mem, tb.Ref(), tb.Allocator().(Inspectable))
	for _, want := range []string{
		"bucket 0: reserved bits above the chain-valid bit are not zero",
		fmt.Sprintf("slab %#x is already used by bucket 3 chain link 1", head.Next),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}
