package hashtable

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/keyhash"
)

// Stats describes a table as the checker found it.
type Stats struct {
	KVs, Inline, OutOfLine int
	ChainedBuckets         int // buckets beyond the index
	MaxChain               int // longest chain, in buckets (1: index bucket only)
	KVBytes                int64
}

// CheckError lists every problem the checker found, in walk order.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "hash table: %d problem(s)", len(e.Problems))
	for i, p := range e.Problems {
		if i == show {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Problems)-show)
			break
		}
		b.WriteString("\n  " + p)
	}
	return b.String()
}

type slabUse struct {
	ptr   uint64
	class int
	where string
}

type checker struct {
	cfg      config.Config
	l        *Layout
	mem      *hostmem.Memory
	hash     *keyhash.Hasher
	problems []string
	decoded  map[string][]byte
	where    map[string]string // key -> where it was found
	uses     map[uint64]slabUse
	st       Stats
}

func (c *checker) bad(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// Check verifies the table in memory against the oracle and the allocator
// (§7). It is Check(cfg, mem, ref, alloc) for the table's own state.
func (t *Table) Check() error {
	view, _ := t.alloc.(Inspectable)
	_, err := Check(t.cfg, t.mem, t.ref, view)
	return err
}

// Stats walks the table without checking the oracle.
func (t *Table) Stats() Stats {
	st, _ := Check(t.cfg, t.mem, nil, nil)
	return st
}

// Check walks every bucket and chain of the table in mem, verifies the
// layout rules of the hashtable document, decodes the contents and compares
// them with ref (skipped when ref is nil), and, when view is not nil,
// compares the slabs the table references with the ones the allocator has
// handed out: a referenced slab the allocator thinks free, a slab
// referenced twice and an allocated slab nothing references (a leak) are
// all errors. The error is a *CheckError.
func Check(cfg config.Config, mem *hostmem.Memory, ref map[string][]byte, view Inspectable) (Stats, error) {
	l, err := NewLayout(cfg)
	if err != nil {
		return Stats{}, err
	}
	c := &checker{cfg: cfg, l: l, mem: mem, hash: keyhash.NewHasher(cfg),
		decoded: map[string][]byte{}, where: map[string]string{}, uses: map[uint64]slabUse{}}
	// An index page never written holds only zero buckets: empty, unchained
	// and valid. Skipping them is exact, and it is what makes the paper's
	// 2^28-bucket index checkable in a test.
	perPage := int64(hostmem.PageBytes / BucketBytes)
	for idx := int64(0); idx < cfg.Memory.IndexBuckets; idx++ {
		if idx%perPage == 0 && !mem.Written(idx*BucketBytes) {
			c.st.MaxChain = max(c.st.MaxChain, 1)
			idx += perPage - 1
			continue
		}
		c.chain(uint64(idx))
	}
	if ref != nil {
		c.compare(ref)
	}
	if view != nil {
		c.slabs(view)
	}
	if len(c.problems) > 0 {
		return c.st, &CheckError{c.problems}
	}
	return c.st, nil
}

// slabOK reports whether ptr is a naturally aligned object of size bytes
// inside the slab heap.
func (c *checker) slabOK(ptr uint64, size int) bool {
	a := c.l.Addr(ptr)
	return a >= c.l.HeapBase && a+int64(size) <= c.l.HostBytes && a%int64(size) == 0
}

func (c *checker) use(ptr uint64, class int, where string) bool {
	if prev, ok := c.uses[ptr]; ok {
		c.bad("%s: slab %#x is already used by %s", where, ptr, prev.where)
		return false
	}
	c.uses[ptr] = slabUse{ptr, class, where}
	return true
}

func (c *checker) chain(idx uint64) {
	addr := int64(idx) * BucketBytes
	name := fmt.Sprintf("bucket %d", idx)
	for pos := 0; ; pos++ {
		var raw [BucketBytes]byte
		c.mem.Read(addr, raw[:])
		b := c.l.Decode(&raw)
		c.bucket(idx, pos, name, &b)
		c.st.MaxChain = max(c.st.MaxChain, pos+1)
		if !b.Valid {
			if b.Next != 0 {
				c.bad("%s: chain valid is 0 but next is %#x (must be 0)", name, b.Next)
			}
			return
		}
		if b.Next == 0 {
			c.bad("%s: chain valid is 1 with a null next pointer", name)
			return
		}
		if !c.slabOK(b.Next, c.l.Classes[c.l.BucketClass]) {
			c.bad("%s: next pointer %#x is not a %d B slab inside the heap", name, b.Next, c.l.Classes[c.l.BucketClass])
			return
		}
		next := fmt.Sprintf("bucket %d chain link %d (slab %#x)", idx, pos+1, b.Next)
		if !c.use(b.Next, c.l.BucketClass, next) {
			return // a second visit would loop
		}
		c.st.ChainedBuckets++
		addr, name = c.l.Addr(b.Next), next
	}
}

func (c *checker) bucket(idx uint64, pos int, name string, b *Bucket) {
	l := c.l
	if b.Reserved {
		c.bad("%s: reserved bits above the chain-valid bit are not zero", name)
	}
	if pos > 0 && l.IsEmpty(b) {
		c.bad("%s: chained bucket is empty (DELETE must unlink and free it)", name)
	}
	inRegion := false
	for j := 0; j < l.Slots; j++ {
		where := fmt.Sprintf("%s slot %d", name, j)
		lo, hi := l.SlotBytes*j, l.SlotBytes*(j+1)
		slotMarks := b.Bitmap >> uint(lo) & mask(l.SlotBytes)
		switch kind := l.Kind(b, j); kind {
		case Reserved:
			c.bad("%s: type code %d is reserved", where, b.Type[j])
			inRegion = false
		case InlineCont:
			if !inRegion {
				c.bad("%s: inline-cont slot without an inline-start before it", where)
			}
		case InlineStart:
			inRegion = true
			c.inline(idx, where, b, j)
		case Empty:
			inRegion = false
			if b.Type[j] != 0 || l.slotValue(b, j) != 0 || slotMarks != 0 {
				c.bad("%s: empty slot (null pointer) is not all zero: type %d, bytes %x, bitmap bits %#x",
					where, b.Type[j], b.Data[lo:hi], slotMarks)
			}
		case OutOfLine:
			inRegion = false
			if slotMarks != 0 {
				c.bad("%s: out-of-line slot has inline bitmap bits %#x set", where, slotMarks)
			}
			c.outOfLine(idx, where, b, j)
		}
	}
}

func (c *checker) inline(idx uint64, where string, b *Bucket, j int) {
	l := c.l
	key, value, n, ok := l.InlineKV(b, j)
	e := j + n - 1
	if !ok {
		c.bad("%s: inline KV over slots %d..%d has malformed bitmap marks %#x (want 1 or 2, the last in slot %d)",
			where, j, e, b.Bitmap>>uint(l.SlotBytes*j)&mask(l.SlotBytes*n), e)
		return
	}
	used := len(key) + len(value)
	switch {
	case len(key) > l.MaxKey:
		c.bad("%s: inline key of %d B exceeds key.max_key_bytes = %d", where, len(key), l.MaxKey)
		return
	case len(value) > l.MaxValue:
		c.bad("%s: inline value of %d B exceeds key.max_value_bytes = %d", where, len(value), l.MaxValue)
	case used > l.Threshold:
		c.bad("%s: inline KV of %d B exceeds bucket.inline_threshold = %d", where, used, l.Threshold)
	case n != (used+l.SlotBytes-1)/l.SlotBytes:
		c.bad("%s: inline KV of %d B spans %d slots, needs %d", where, used, n, (used+l.SlotBytes-1)/l.SlotBytes)
	}
	pad := b.Data[l.SlotBytes*j+used : l.SlotBytes*(e+1)]
	if !allZero(pad) {
		c.bad("%s: padding after the inline KV is not zero: %x", where, pad)
	}
	c.found(idx, where, key, value, true)
}

func (c *checker) outOfLine(idx uint64, where string, b *Bucket, j int) {
	l := c.l
	ptr, class := l.SlotPtr(b, j), int(b.Type[j])
	size := l.Classes[class]
	if !c.slabOK(ptr, size) {
		c.bad("%s: pointer %#x is not a %d B slab inside the heap", where, ptr, size)
		return
	}
	if !c.use(ptr, class, where) {
		return
	}
	obj := make([]byte, size)
	c.mem.Read(l.Addr(ptr), obj)
	key, value, ok := l.ParseObject(obj)
	if !ok {
		c.bad("%s: object %#x header %02x %02x does not fit its %d B class", where, ptr, obj[0], obj[1], size)
		return
	}
	if len(key) == 0 || len(key) > l.MaxKey {
		c.bad("%s: object %#x holds a key of %d B (want 1..%d)", where, ptr, len(key), l.MaxKey)
		return
	}
	if len(value) > l.MaxValue {
		c.bad("%s: object %#x holds a value of %d B, over key.max_value_bytes = %d", where, ptr, len(value), l.MaxValue)
	}
	if f := l.FormOf(len(key), len(value)); f.Inline {
		c.bad("%s: object %#x holds a KV of %d B, which belongs inline", where, ptr, len(key)+len(value))
	} else if f.Class != class {
		c.bad("%s: object %#x of class %d B holds a KV that needs class %d B", where, ptr, size, l.Classes[f.Class])
	}
	if _, sec, _ := c.hash.Bytes(key); sec != l.SlotSec(b, j) {
		c.bad("%s: secondary hash %#x, the key's is %#x", where, l.SlotSec(b, j), sec)
	}
	c.found(idx, where, key, value, false)
}

func (c *checker) found(idx uint64, where string, key, value []byte, inline bool) {
	if bucket, _, _ := c.hash.Bytes(key); bucket != idx {
		c.bad("%s: key %x hashes to bucket %d, not to this chain's", where, key, bucket)
	}
	k := string(key)
	if prev, dup := c.where[k]; dup {
		c.bad("%s: key %x is also stored at %s", where, key, prev)
		return
	}
	c.where[k] = where
	c.decoded[k] = append([]byte(nil), value...)
	c.st.KVs++
	c.st.KVBytes += int64(len(key) + len(value))
	if inline {
		c.st.Inline++
	} else {
		c.st.OutOfLine++
	}
}

func (c *checker) compare(ref map[string][]byte) {
	keys := make([]string, 0, len(ref)+len(c.decoded))
	for k := range ref {
		keys = append(keys, k)
	}
	for k := range c.decoded {
		if _, ok := ref[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		want, inRef := ref[k]
		got, inMem := c.decoded[k]
		switch {
		case !inMem:
			c.bad("key %x: in the reference map, not in the table", k)
		case !inRef:
			c.bad("key %x (%s): in the table, not in the reference map", k, c.where[k])
		case !bytes.Equal(got, want):
			c.bad("key %x (%s): value %x, reference %x", k, c.where[k], got, want)
		}
	}
}

func (c *checker) slabs(view Inspectable) {
	live := map[uint64]int{}
	for _, s := range view.Allocated() {
		live[s.Ptr] = s.Class
	}
	used := make([]slabUse, 0, len(c.uses))
	for _, u := range c.uses {
		used = append(used, u)
	}
	sort.Slice(used, func(i, j int) bool { return used[i].ptr < used[j].ptr })
	var end int64
	for i, u := range used {
		size := c.l.Classes[u.class]
		if cl, ok := live[u.ptr]; !ok {
			c.bad("%s: slab %#x (%d B) is free in the allocator", u.where, u.ptr, size)
		} else if cl != u.class {
			c.bad("%s: slab %#x is used as %d B, allocated as %d B", u.where, u.ptr, size, c.l.Classes[cl])
		}
		if a := c.l.Addr(u.ptr); i > 0 && a < end {
			c.bad("%s: slab %#x overlaps %s", u.where, u.ptr, used[i-1].where)
		}
		end = max(end, c.l.Addr(u.ptr)+int64(size))
	}
	for _, s := range view.Allocated() {
		if _, ok := c.uses[s.Ptr]; !ok {
			c.bad("slab %#x (%d B) is allocated but nothing references it (leaked)", s.Ptr, c.l.Classes[s.Class])
		}
	}
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
