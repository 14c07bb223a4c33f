package hashtable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/keyhash"
)

// small is the paper's layout and key sizes with a host memory a test can
// walk; index buckets as given.
func small(t *testing.T, buckets int) config.Config {
	return preset(t, "paper", fmt.Sprintf("memory.index_buckets=%d", buckets), "memory.host_bytes=16777216")
}

func newTable(t *testing.T, cfg config.Config, heap int64) (*Table, *SimpleAllocator) {
	t.Helper()
	a, err := NewSimpleAllocator(cfg, heap)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := New(cfg, hostmem.New(cfg.Memory.HostBytes), a)
	if err != nil {
		t.Fatal(err)
	}
	return tb, a
}

func mustCheck(t *testing.T, tb *Table) Stats {
	t.Helper()
	if err := tb.Check(); err != nil {
		t.Fatal(err)
	}
	return tb.Stats()
}

// collide returns n distinct keys of length kl that all hash to bucket.
func collide(cfg config.Config, bucket uint64, kl, n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	var keys [][]byte
	seen := map[string]bool{}
	for len(keys) < n {
		k := randomBytes(rng, kl)
		if b, _, _ := keyhash.Hash(cfg, k); b == bucket && !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys
}

type cost struct{ r, w, a, f int }

func expect(t *testing.T, what string, r Result, st Status, c cost) {
	t.Helper()
	if r.Status != st || r.Reads != c.r || r.Writes != c.w || r.Allocs != c.a || r.Frees != c.f {
		t.Errorf("%s: %s %d reads %d writes %d allocs %d frees; want %s %+v", what, r.Status, r.Reads, r.Writes, r.Allocs, r.Frees, st, c)
	}
}

// The access counts of §4 for each path, on one chain.
func TestAccessCounts(t *testing.T) {
	cfg := small(t, 2)
	tb, _ := newTable(t, cfg, 0)
	keys := collide(cfg, 1, 5, 12, 1)
	v5 := []byte("vvvvv")
	big := bytes.Repeat([]byte{0xab}, 246)

	expect(t, "inline insert", tb.Put(keys[0], v5), OK, cost{1, 1, 0, 0})
	expect(t, "inline GET", tb.Get(keys[0]), OK, cost{1, 0, 0, 0})
	expect(t, "out-of-line insert", tb.Put(keys[1], big), OK, cost{1, 2, 1, 0})
	expect(t, "out-of-line GET", tb.Get(keys[1]), OK, cost{2, 0, 0, 0})
	expect(t, "same-class replace", tb.Put(keys[1], bytes.Repeat([]byte{1}, 240)), OK, cost{2, 1, 0, 0})
	expect(t, "class change", tb.Put(keys[1], bytes.Repeat([]byte{2}, 100)), OK, cost{2, 2, 1, 1})
	expect(t, "out-of-line to inline", tb.Put(keys[1], v5), OK, cost{2, 1, 0, 1})
	expect(t, "inline to out-of-line", tb.Put(keys[1], big), OK, cost{1, 2, 1, 0})
	expect(t, "inline replace", tb.Put(keys[0], []byte("w")), OK, cost{1, 1, 0, 0})
	_, s11, _ := keyhash.Hash(cfg, keys[11])
	_, s1, _ := keyhash.Hash(cfg, keys[1])
	if s11 == s1 {
		t.Fatal("pick keys whose secondary hashes differ")
	}
	expect(t, "GET miss", tb.Get(keys[11]), NotFound, cost{1, 0, 0, 0})
	mustCheck(t, tb)
	if v := tb.Get(keys[1]).Value; !bytes.Equal(v, big) {
		t.Fatalf("GET after transitions: %x", v)
	}
	expect(t, "out-of-line DELETE", tb.Delete(keys[1]), OK, cost{2, 1, 0, 1})
	expect(t, "inline DELETE", tb.Delete(keys[0]), OK, cost{1, 1, 0, 0})
	expect(t, "DELETE miss", tb.Delete(keys[0]), NotFound, cost{1, 0, 0, 0})

	// Five 10 B KVs fill a bucket; the sixth needs a chained bucket.
	for i := 0; i < 5; i++ {
		expect(t, fmt.Sprintf("fill %d", i), tb.Put(keys[i], v5), OK, cost{1, 1, 0, 0})
	}
	expect(t, "chain a bucket", tb.Put(keys[5], v5), OK, cost{1, 2, 1, 0})
	expect(t, "GET from link 1", tb.Get(keys[5]), OK, cost{2, 0, 0, 0})
	for i := 6; i < 10; i++ {
		expect(t, fmt.Sprintf("fill link 1 %d", i), tb.Put(keys[i], v5), OK, cost{2, 1, 0, 0})
	}
	expect(t, "chain a second bucket", tb.Put(keys[10], v5), OK, cost{2, 2, 1, 0})
	expect(t, "GET from link 2", tb.Get(keys[10]), OK, cost{3, 0, 0, 0})
	// A replace that does not fit where it was goes to the first bucket with
	// room: its own, then the ones before it, then the ones after it.
	expect(t, "DELETE in index bucket", tb.Delete(keys[0]), OK, cost{1, 1, 0, 0})
	expect(t, "DELETE in index bucket", tb.Delete(keys[1]), OK, cost{1, 1, 0, 0})
	expect(t, "grow in place", tb.Put(keys[10], []byte("123456789")), OK, cost{3, 1, 0, 0}) // 14 B, 3 slots
	expect(t, "grow into the index bucket", tb.Put(keys[9], make([]byte, 10)), OK, cost{2, 2, 0, 0})
	expect(t, "grow into link 2", tb.Put(keys[8], make([]byte, 20)), OK, cost{3, 2, 0, 0})
	if st := mustCheck(t, tb); st.MaxChain != 3 || st.ChainedBuckets != 2 {
		t.Fatalf("stats %+v", st)
	}
	var b0 [BucketBytes]byte
	tb.Memory().Read(64, b0[:])
	d := tb.Layout().Decode(&b0)
	if j, ok := tb.Layout().MatchInline(&d, keys[9]); !ok || j != 0 {
		t.Fatalf("grown KV at slot %d of the index bucket (%v), want slot 0", j, ok)
	}
	expect(t, "DELETE leaving link 2 in use", tb.Delete(keys[10]), OK, cost{3, 1, 0, 0})
	// Emptying link 2 unlinks it: one write (link 1) and one free.
	expect(t, "DELETE emptying link 2", tb.Delete(keys[8]), OK, cost{3, 1, 0, 1})
	if st := mustCheck(t, tb); st.MaxChain != 2 || st.ChainedBuckets != 1 {
		t.Fatalf("stats after unlink %+v", st)
	}
}

// Errors change nothing and touch no memory.
func TestErrors(t *testing.T) {
	cfg := small(t, 4)
	tb, a := newTable(t, cfg, 0)
	tb.Put([]byte("k"), []byte("v"))
	tb.Put([]byte("big"), bytes.Repeat([]byte{1}, 300))
	before, live := tb.Memory().Clone(), a.Live()
	long := bytes.Repeat([]byte{'k'}, cfg.Key.MaxKeyBytes+1)
	tooBig := make([]byte, cfg.Key.MaxValueBytes+1)
	for _, c := range []struct {
		name string
		r    Result
		want Status
	}{
		{"GET empty key", tb.Get(nil), ErrEmptyKey},
		{"PUT empty key", tb.Put([]byte{}, []byte("v")), ErrEmptyKey},
		{"DELETE empty key", tb.Delete(nil), ErrEmptyKey},
		{"GET long key", tb.Get(long), ErrKeyTooLong},
		{"PUT long key", tb.Put(long, []byte("v")), ErrKeyTooLong},
		{"DELETE long key", tb.Delete(long), ErrKeyTooLong},
		{"PUT long value", tb.Put([]byte("k"), tooBig), ErrValueLong},
		{"PUT long value, new key", tb.Put([]byte("new"), tooBig), ErrValueLong},
		{"PUT empty key and long value", tb.Put(nil, tooBig), ErrEmptyKey},
		{"PUT long key and long value", tb.Put(long, tooBig), ErrKeyTooLong},
	} {
		expect(t, c.name, c.r, c.want, cost{})
	}
	if d := tb.Memory().Diff(before, 3); d != nil || a.Live() != live {
		t.Fatalf("an error changed memory %v or the allocator (%d -> %d)", d, live, a.Live())
	}
	if v := tb.Get([]byte("k")).Value; string(v) != "v" {
		t.Fatalf("k = %q", v)
	}
	// Bounds themselves are accepted, and an empty value is a value.
	maxKey := bytes.Repeat([]byte{'m'}, cfg.Key.MaxKeyBytes)
	expect(t, "max key, max value", tb.Put(maxKey, make([]byte, cfg.Key.MaxValueBytes)), OK, cost{1, 2, 1, 0})
	expect(t, "empty value", tb.Put([]byte("e"), nil), OK, cost{1, 1, 0, 0})
	if r := tb.Get([]byte("e")); r.Status != OK || len(r.Value) != 0 {
		t.Fatalf("GET of an empty value: %+v", r)
	}
	mustCheck(t, tb)
}

// denying wraps an allocator and refuses the classes deny says.
type denying struct {
	*SimpleAllocator
	deny func(class int) bool
}

func (d *denying) Alloc(class int) (uint64, bool) {
	if d.deny(class) {
		return 0, false
	}
	return d.SimpleAllocator.Alloc(class)
}

func TestOutOfMemory(t *testing.T) {
	cfg := small(t, 16)
	// A 4 KiB heap: sixteen 256 B objects, then no memory.
	tb, a := newTable(t, cfg, 4096)
	stored := map[string][]byte{}
	rng := rand.New(rand.NewPCG(3, 4))
	full := 0
	for i := 0; i < 40; i++ {
		k, v := randomBytes(rng, 8), randomBytes(rng, 246)
		before, live := tb.Memory().Clone(), a.Live()
		r := tb.Put(k, v)
		if r.Status == ErrNoMemory {
			full++
			if r.Writes != 0 || a.Live() != live {
				t.Fatalf("NO_MEMORY PUT wrote %d times, allocator %d -> %d", r.Writes, live, a.Live())
			}
			if d := tb.Memory().Diff(before, 3); d != nil {
				t.Fatalf("NO_MEMORY PUT changed memory: %v", d)
			}
			continue
		}
		if r.Status != OK {
			t.Fatalf("PUT %d: %s", i, r.Status)
		}
		stored[string(k)] = v
	}
	if full == 0 || len(stored) == 0 {
		t.Fatalf("%d stored, %d refused: the heap never ran out", len(stored), full)
	}
	mustCheck(t, tb)
	for k, v := range stored {
		if r := tb.Get([]byte(k)); r.Status != OK || !bytes.Equal(r.Value, v) {
			t.Fatalf("GET %x after running out: %s", k, r.Status)
		}
	}
	// Freeing one makes room for one.
	var some string
	for k := range stored {
		if some == "" || k < some {
			some = k
		}
	}
	expect(t, "DELETE to make room", tb.Delete([]byte(some)), OK, cost{2, 1, 0, 1})
	if r := tb.Put([]byte("fresh-key"), make([]byte, 240)); r.Status != OK {
		t.Fatalf("PUT after a DELETE: %s", r.Status)
	}
	mustCheck(t, tb)
}

// A PUT that gets its object but not its chained bucket gives the object
// back; a replace refused for memory keeps the old value.
func TestOutOfMemoryPartial(t *testing.T) {
	cfg := small(t, 2)
	inner, err := NewSimpleAllocator(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := layout(t, cfg)
	da := &denying{inner, func(c int) bool { return c == l.BucketClass }}
	tb, err := New(cfg, hostmem.New(cfg.Memory.HostBytes), da)
	if err != nil {
		t.Fatal(err)
	}
	keys := collide(cfg, 0, 4, 12, 5)
	for i := 0; i < 10; i++ { // ten out-of-line KVs fill the index bucket
		if r := tb.Put(keys[i], make([]byte, 100)); r.Status != OK {
			t.Fatalf("PUT %d: %s", i, r.Status)
		}
	}
	// Reads: the bucket, and every object whose secondary hash collides.
	reads := 1
	_, sec, _ := keyhash.Hash(cfg, keys[10])
	for i := 0; i < 10; i++ {
		if _, s, _ := keyhash.Hash(cfg, keys[i]); s == sec {
			reads++
		}
	}
	before := tb.Memory().Clone()
	r := tb.Put(keys[10], make([]byte, 100))
	expect(t, "object then no bucket", r, ErrNoMemory, cost{reads, 0, 1, 1})
	if d := tb.Memory().Diff(before, 3); d != nil {
		t.Fatal(d)
	}
	mustCheck(t, tb) // the object went back: no leak

	da.deny = func(int) bool { return true }
	if r := tb.Put(keys[3], make([]byte, 300)); r.Status != ErrNoMemory {
		t.Fatalf("class-changing replace with no memory: %s", r.Status)
	}
	if r := tb.Get(keys[3]); r.Status != OK || len(r.Value) != 100 {
		t.Fatalf("old value lost: %s %d B", r.Status, len(r.Value))
	}
	// Out-of-line to a one-slot inline KV needs no allocation: it fits in
	// the slot it frees. Two slots would need a chained bucket.
	if r := tb.Put(keys[3], []byte("tiny")); r.Status != ErrNoMemory {
		t.Fatalf("two-slot shrink into a full bucket with no memory: %s", r.Status)
	}
	if r := tb.Put(keys[3], []byte("t")); r.Status != OK {
		t.Fatalf("shrink with no memory: %s", r.Status)
	}
	mustCheck(t, tb)
}

// Random GET/PUT/DELETE against an independent map: every key length, inline
// and out-of-line values of every size class, transitions both ways, chains
// several buckets deep (a tiny index), checked as it goes.
func TestRandomOps(t *testing.T) {
	configs := []config.Config{small(t, 8), preset(t, "sim", "memory.index_buckets=4"), wideConfig(t)}
	if testing.Short() {
		configs = configs[:1]
	}
	for ci, cfg := range configs {
		t.Run(fmt.Sprintf("%d_K%d_S%dx%d", ci, cfg.Key.MaxKeyBytes, cfg.Bucket.Slots, cfg.Bucket.SlotBytes), func(t *testing.T) {
			randomOps(t, cfg, uint64(ci+1))
		})
	}
}

func randomOps(t *testing.T, cfg config.Config, seed uint64) {
	tb, _ := newTable(t, cfg, 0)
	l := tb.Layout()
	rng := rand.New(rand.NewPCG(seed, 7))
	K, V := cfg.Key.MaxKeyBytes, cfg.Key.MaxValueBytes
	// A pool of keys of every length, several of each, so that PUTs replace
	// and DELETEs hit.
	var pool [][]byte
	for kl := 1; kl <= K; kl++ {
		for i := 0; i < 8; i++ {
			pool = append(pool, randomBytes(rng, kl))
		}
	}
	value := func(kl int) []byte {
		switch rng.IntN(4) {
		case 0: // inline, any size that still fits
			if kl <= l.Threshold {
				return randomBytes(rng, rng.IntN(l.Threshold-kl+1))
			}
		case 1:
			return nil
		}
		return randomBytes(rng, rng.IntN(V+1))
	}
	oracle := map[string][]byte{}
	lengthsSeen := map[int]bool{}
	transitions := map[string]int{}
	maxChain := 0
	const ops = 20000
	for i := 0; i < ops; i++ {
		k := pool[rng.IntN(len(pool))]
		switch op := rng.IntN(10); {
		case op < 5:
			v := value(len(k))
			old, had := oracle[string(k)]
			r := tb.Put(k, v)
			if r.Status != OK {
				t.Fatalf("op %d: PUT %x (%d B value): %s", i, k, len(v), r.Status)
			}
			if had {
				from, to := l.FormOf(len(k), len(old)).Inline, l.FormOf(len(k), len(v)).Inline
				transitions[fmt.Sprintf("%v->%v", from, to)]++
			}
			oracle[string(k)] = v
			lengthsSeen[len(k)] = true
		case op < 8:
			r := tb.Get(k)
			want, ok := oracle[string(k)]
			if ok != (r.Status == OK) || !bytes.Equal(r.Value, want) || (!ok && r.Status != NotFound) {
				t.Fatalf("op %d: GET %x = %s %x, want %v %x", i, k, r.Status, r.Value, ok, want)
			}
			if r.Writes != 0 || r.Reads < 1 {
				t.Fatalf("op %d: GET made %d reads, %d writes", i, r.Reads, r.Writes)
			}
		default:
			r := tb.Delete(k)
			_, ok := oracle[string(k)]
			if ok != (r.Status == OK) || (!ok && r.Status != NotFound) {
				t.Fatalf("op %d: DELETE %x = %s, want found=%v", i, k, r.Status, ok)
			}
			if ok && r.Writes != 1 {
				t.Fatalf("op %d: DELETE made %d writes", i, r.Writes)
			}
			delete(oracle, string(k))
		}
		if i%2000 == 1999 || i == ops-1 {
			if err := tb.Check(); err != nil {
				t.Fatalf("after op %d: %v", i, err)
			}
			if _, err := Check(cfg, tb.Memory(), oracle, tb.Allocator().(Inspectable)); err != nil {
				t.Fatalf("after op %d, against the test's own map: %v", i, err)
			}
			maxChain = max(maxChain, tb.Stats().MaxChain)
		}
	}
	for kl := 1; kl <= K; kl++ {
		if !lengthsSeen[kl] {
			t.Errorf("no PUT with a %d B key", kl)
		}
	}
	for _, tr := range []string{"true->true", "true->false", "false->true", "false->false"} {
		if transitions[tr] == 0 {
			t.Errorf("no inline %s replace", tr)
		}
	}
	if maxChain < 4 {
		t.Errorf("longest chain %d buckets, want >= 4", maxChain)
	}
	t.Logf("%d KVs, longest chain %d, transitions %v", tb.Len(), maxChain, transitions)
}

func TestPreload(t *testing.T) {
	cfg := small(t, 256)
	spec := PreloadSpec{KeyBytes: 6, ValueBytes: 4, Utilization: 0.55, Seed: 11}
	var mems []*hostmem.Memory
	for range 2 {
		tb, _ := newTable(t, cfg, cfg.IndexBytes())
		keys, err := Preload(tb, spec)
		if err != nil {
			t.Fatal(err)
		}
		if u := tb.Utilization(); u < 0.55 || u > 0.56 || len(keys) != tb.Len() {
			t.Fatalf("utilization %.4f with %d keys, %d stored", u, len(keys), tb.Len())
		}
		if st := mustCheck(t, tb); st.ChainedBuckets == 0 {
			t.Fatalf("no chains at 55 %%: %+v", st)
		}
		mems = append(mems, tb.Memory())
	}
	if d := mems[0].Diff(mems[1], 3); d != nil {
		t.Fatalf("same seed, different tables: %v", d)
	}
	tb, _ := newTable(t, cfg, cfg.IndexBytes())
	if _, err := Preload(tb, PreloadSpec{KeyBytes: 6, ValueBytes: 4, Utilization: 0.9, Seed: 1}); err == nil ||
		!strings.Contains(err.Error(), "no-memory") {
		t.Fatalf("preload past what fits: %v", err)
	}
	mustCheck(t, tb)
}

func TestMeasureAccesses(t *testing.T) {
	cfg := small(t, 512)
	for _, s := range []AccessSpec{
		{KeyBytes: 5, ValueBytes: 5, Utilization: 0.5, IndexRatio: 0.5, Ops: 2000, Seed: 1, Check: true},
		{KeyBytes: 8, ValueBytes: 246, Utilization: 0.7, IndexRatio: 0.125, Ops: 2000, Seed: 1, Check: true},
	} {
		row, err := MeasureAccesses(cfg, s)
		if err != nil {
			t.Fatal(err)
		}
		floor := 1.0
		if !row.Inline {
			floor = 2
		}
		if row.GetAccessesPerOp < floor || row.GetAccessesPerOp > floor+0.5 || row.PutAccessesPerOp < floor+1 ||
			row.MeasuredUtilization < s.Utilization || row.KVs == 0 {
			t.Errorf("%+v: implausible %+v", s, row)
		}
		again, _ := MeasureAccesses(cfg, s)
		if again != row {
			t.Errorf("not deterministic: %+v then %+v", row, again)
		}
	}
}
