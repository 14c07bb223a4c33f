package hashtable

import (
	"fmt"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/keyhash"
)

// Status is the response code of an operation (§4.5).
type Status uint8

const (
	OK            Status = 0
	NotFound      Status = 1
	ErrEmptyKey   Status = 2
	ErrKeyTooLong Status = 3
	ErrValueLong  Status = 4
	ErrNoMemory   Status = 5
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case NotFound:
		return "not-found"
	case ErrEmptyKey:
		return "empty-key"
	case ErrKeyTooLong:
		return "key-too-long"
	case ErrValueLong:
		return "value-too-long"
	case ErrNoMemory:
		return "no-memory"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Result is one operation's response and what it cost.
type Result struct {
	Status Status
	Value  []byte // GET hit only
	// Reads and Writes count memory accesses as §5 defines them: one per
	// bucket or whole-object read or write.
	Reads, Writes int
	// Allocs and Frees count allocator calls (not memory accesses).
	Allocs, Frees int
}

// Accesses is Reads + Writes.
func (r Result) Accesses() int { return r.Reads + r.Writes }

// Table is the reference store: the table in host memory, operated on by the
// algorithms of §4, and a Go map with the same contents as the oracle.
type Table struct {
	cfg   config.Config
	l     *Layout
	mem   *hostmem.Memory
	alloc Allocator
	hash  *keyhash.Hasher

	ref     map[string][]byte
	kvBytes int64

	cur Result // counters of the operation in progress
}

// New returns an empty table over mem, whose index region must be zero.
func New(cfg config.Config, mem *hostmem.Memory, alloc Allocator) (*Table, error) {
	l, err := NewLayout(cfg)
	if err != nil {
		return nil, err
	}
	if mem.Size() != cfg.Memory.HostBytes {
		return nil, fmt.Errorf("host memory of %d B, configuration says memory.host_bytes = %d", mem.Size(), cfg.Memory.HostBytes)
	}
	return &Table{cfg: cfg, l: l, mem: mem, alloc: alloc, hash: keyhash.NewHasher(cfg), ref: map[string][]byte{}}, nil
}

// Layout is the table's layout.
func (t *Table) Layout() *Layout { return t.l }

// Memory is the host memory the table lives in.
func (t *Table) Memory() *hostmem.Memory { return t.mem }

// Allocator is the table's slab allocator.
func (t *Table) Allocator() Allocator { return t.alloc }

// Len is the number of stored KVs.
func (t *Table) Len() int { return len(t.ref) }

// KVBytes is the sum of key and value bytes stored.
func (t *Table) KVBytes() int64 { return t.kvBytes }

// Lookup answers from the oracle map.
func (t *Table) Lookup(key []byte) ([]byte, bool) {
	v, ok := t.ref[string(key)]
	return v, ok
}

// Ref returns a copy of the oracle map.
func (t *Table) Ref() map[string][]byte {
	m := make(map[string][]byte, len(t.ref))
	for k, v := range t.ref {
		m[k] = v
	}
	return m
}

// TableBytes is the memory the table manages: the index plus the slab heap
// (the denominator of memory utilization, §6).
func (t *Table) TableBytes() int64 {
	heap := t.cfg.Memory.HostBytes - t.cfg.HeapBase()
	if in, ok := t.alloc.(Inspectable); ok {
		heap = in.HeapBytes()
	}
	return t.cfg.IndexBytes() + heap
}

// Utilization is KV bytes over table bytes (§6).
func (t *Table) Utilization() float64 { return float64(t.kvBytes) / float64(t.TableBytes()) }

// chainEntry is a bucket read during a walk, with the copy the operation
// modifies before writing it back.
type chainEntry struct {
	addr int64
	b    Bucket
}

// location is the result of a chain walk.
type location struct {
	chain  []chainEntry // buckets read, in chain order
	found  bool
	bi     int // chain position of the copy found
	slot   int
	form   Form   // of the copy found
	ptr    uint64 // its object, when out-of-line
	value  []byte
	walked bool // the whole chain was read
}

func (t *Table) readBucket(addr int64) Bucket {
	t.cur.Reads++
	var raw [BucketBytes]byte
	t.mem.Read(addr, raw[:])
	return t.l.Decode(&raw)
}

func (t *Table) writeBucket(addr int64, b *Bucket) {
	t.cur.Writes++
	raw := t.l.Encode(b)
	t.mem.Write(addr, raw[:])
}

func (t *Table) readObject(ptr uint64, class int) []byte {
	t.cur.Reads++
	obj := make([]byte, t.l.Classes[class])
	t.mem.Read(t.l.Addr(ptr), obj)
	return obj
}

func (t *Table) writeObject(ptr uint64, key, value []byte) {
	t.cur.Writes++
	t.mem.Write(t.l.Addr(ptr), t.l.ObjectImage(key, value))
}

// maxChain bounds a walk: a chain longer than the memory has buckets loops.
func (t *Table) maxChain() int { return int(t.cfg.Memory.HostBytes / BucketBytes) }

// next reads the bucket after the last one of loc.chain; false at the end.
func (t *Table) next(loc *location) bool {
	last := &loc.chain[len(loc.chain)-1].b
	if !last.Valid {
		loc.walked = true
		return false
	}
	if len(loc.chain) > t.maxChain() {
		panic("hashtable: bucket chain loops")
	}
	addr := t.l.Addr(last.Next)
	loc.chain = append(loc.chain, chainEntry{addr: addr, b: t.readBucket(addr)})
	return true
}

// lookup walks the chain of the key's bucket (§4.1) until the key is found
// or the chain ends.
func (t *Table) lookup(key []byte, bucket, sec uint64) location {
	addr := int64(bucket) * BucketBytes
	loc := location{chain: []chainEntry{{addr: addr, b: t.readBucket(addr)}}}
	for {
		i := len(loc.chain) - 1
		b := &loc.chain[i].b
		if j, ok := t.l.MatchInline(b, key); ok {
			_, v, n, _ := t.l.InlineKV(b, j)
			loc.found, loc.bi, loc.slot, loc.form = true, i, j, Form{Inline: true, Slots: n}
			loc.value = append([]byte(nil), v...)
			return loc
		}
		for j := 0; j < t.l.Slots; j++ {
			if t.l.Kind(b, j) != OutOfLine || t.l.SlotSec(b, j) != sec {
				continue
			}
			ptr, class := t.l.SlotPtr(b, j), int(b.Type[j])
			k, v, ok := t.l.ParseObject(t.readObject(ptr, class))
			if ok && string(k) == string(key) {
				loc.found, loc.bi, loc.slot, loc.form, loc.ptr = true, i, j, Form{Slots: 1, Class: class}, ptr
				loc.value = append([]byte(nil), v...)
				return loc
			}
		}
		if !t.next(&loc) {
			return loc
		}
	}
}

func (t *Table) begin() { t.cur = Result{} }

func (t *Table) end(s Status, v []byte) Result {
	r := t.cur
	r.Status, r.Value = s, v
	t.cur = Result{}
	return r
}

func (t *Table) checkKey(key []byte) Status {
	switch {
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > t.l.MaxKey:
		return ErrKeyTooLong
	}
	return OK
}

func (t *Table) hashKey(key []byte) (bucket, sec uint64) {
	b, s, _ := t.hash.Bytes(key)
	return b, s
}

// Get is GET (§4.2).
func (t *Table) Get(key []byte) Result {
	t.begin()
	if s := t.checkKey(key); s != OK {
		return t.end(s, nil)
	}
	bucket, sec := t.hashKey(key)
	loc := t.lookup(key, bucket, sec)
	if !loc.found {
		return t.end(NotFound, nil)
	}
	return t.end(OK, loc.value)
}

// Put is PUT (§4.3): insert, or replace the existing copy.
func (t *Table) Put(key, value []byte) Result {
	t.begin()
	if s := t.checkKey(key); s != OK {
		return t.end(s, nil)
	}
	if len(value) > t.l.MaxValue {
		return t.end(ErrValueLong, nil)
	}
	bucket, sec := t.hashKey(key)
	f := t.l.FormOf(len(key), len(value))
	loc := t.lookup(key, bucket, sec)

	// Same class out-of-line: rewrite the object, the slot stays as it is.
	if loc.found && !loc.form.Inline && !f.Inline && loc.form.Class == f.Class {
		t.writeObject(loc.ptr, key, value)
		t.setRef(key, value)
		return t.end(OK, nil)
	}

	modified := make([]bool, len(loc.chain), len(loc.chain)+4)
	if loc.found {
		t.l.clearSlots(&loc.chain[loc.bi].b, loc.slot, loc.form.Slots)
		modified[loc.bi] = true
	}
	target, slot := t.place(&loc, f.Slots)
	for len(modified) < len(loc.chain) {
		modified = append(modified, false)
	}

	// Allocate everything before writing anything, so that running out of
	// memory leaves the table as it was.
	var obj, nb uint64
	if !f.Inline {
		p, ok := t.alloc.Alloc(f.Class)
		if !ok {
			return t.end(ErrNoMemory, nil)
		}
		t.cur.Allocs++
		obj = p
	}
	if target < 0 {
		p, ok := t.alloc.Alloc(t.l.BucketClass)
		if !ok {
			if !f.Inline {
				t.alloc.Free(obj, f.Class)
				t.cur.Frees++
			}
			return t.end(ErrNoMemory, nil)
		}
		t.cur.Allocs++
		nb = p
	}

	if !f.Inline {
		t.writeObject(obj, key, value)
	}
	put := func(b *Bucket, j int) {
		if f.Inline {
			t.l.placeInline(b, j, key, value)
		} else {
			t.l.placeOutOfLine(b, j, obj, sec, f.Class)
		}
	}
	if target < 0 {
		var b Bucket
		put(&b, 0)
		t.writeBucket(t.l.Addr(nb), &b)
		last := len(loc.chain) - 1
		loc.chain[last].b.Next, loc.chain[last].b.Valid = nb, true
		modified[last] = true
	} else {
		put(&loc.chain[target].b, slot)
		modified[target] = true
	}
	for i := range loc.chain {
		if modified[i] {
			t.writeBucket(loc.chain[i].addr, &loc.chain[i].b)
		}
	}
	if loc.found && !loc.form.Inline {
		t.alloc.Free(loc.ptr, loc.form.Class)
		t.cur.Frees++
	}
	t.setRef(key, value)
	return t.end(OK, nil)
}

// place picks the bucket and slot of a new copy needing n slots (§4.3): the
// bucket of the old copy first, then the chain in order, reading buckets not
// yet read only when the ones read have no room. target -1: the chain is
// full and a new bucket is needed (the whole chain has then been read).
func (t *Table) place(loc *location, n int) (target, slot int) {
	if loc.found {
		if j := t.l.FirstRun(&loc.chain[loc.bi].b, n); j >= 0 {
			return loc.bi, j
		}
	}
	for i := range loc.chain {
		if loc.found && i == loc.bi {
			continue
		}
		if j := t.l.FirstRun(&loc.chain[i].b, n); j >= 0 {
			return i, j
		}
	}
	for t.next(loc) {
		i := len(loc.chain) - 1
		if j := t.l.FirstRun(&loc.chain[i].b, n); j >= 0 {
			return i, j
		}
	}
	return -1, -1
}

// Delete is DELETE (§4.4).
func (t *Table) Delete(key []byte) Result {
	t.begin()
	if s := t.checkKey(key); s != OK {
		return t.end(s, nil)
	}
	bucket, sec := t.hashKey(key)
	loc := t.lookup(key, bucket, sec)
	if !loc.found {
		return t.end(NotFound, nil)
	}
	e := &loc.chain[loc.bi]
	t.l.clearSlots(&e.b, loc.slot, loc.form.Slots)
	if loc.bi > 0 && t.l.IsEmpty(&e.b) {
		pred := &loc.chain[loc.bi-1]
		pred.b.Next, pred.b.Valid = e.b.Next, e.b.Valid
		t.writeBucket(pred.addr, &pred.b)
		t.alloc.Free(t.l.Ptr(e.addr), t.l.BucketClass)
		t.cur.Frees++
	} else {
		t.writeBucket(e.addr, &e.b)
	}
	if !loc.form.Inline {
		t.alloc.Free(loc.ptr, loc.form.Class)
		t.cur.Frees++
	}
	t.kvBytes -= int64(len(key) + len(t.ref[string(key)]))
	delete(t.ref, string(key))
	return t.end(OK, nil)
}

func (t *Table) setRef(key, value []byte) {
	k := string(key)
	if old, ok := t.ref[k]; ok {
		t.kvBytes -= int64(len(k) + len(old))
	}
	t.ref[k] = append([]byte(nil), value...)
	t.kvBytes += int64(len(k) + len(value))
}
