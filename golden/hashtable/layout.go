// Package hashtable is the untimed golden model of the hash-table engine
// (docs/microarch/hashtable.md): the bucket layout, GET/PUT/DELETE on a
// *hostmem.Memory with their memory-access counts, a simple slab allocator,
// a backdoor preload and a table checker.
//
// It is written from the document only; a Go map beside the memory image is
// the semantic oracle the checker compares against.
package hashtable

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/kvdirect/kvd/config"
)

// BucketBytes is the size of a bucket: one 64 B host-memory line.
const BucketBytes = 64

// HeaderBytes is the slab-object header (key_size, value_size).
const HeaderBytes = 2

// BeatBytes is the host-memory port's beat (docs/microarch.md §1.7); object
// writes are whole beats.
const BeatBytes = 32

// Layout is the bucket and object layout of one configuration (§2 and §3 of
// the hashtable document). Every position is a bit of the 512-bit bucket,
// byte i of the line at bits [8i+7:8i].
type Layout struct {
	Slots     int // S, bucket.slots
	SlotBytes int // SB, bucket.slot_bytes
	PtrBits   int // P, bucket.pointer_bits
	SecBits   int // bucket.sec_hash_bits
	TypeBits  int // T, bucket.slab_type_bits
	AreaBytes int // A = S*SB, the slot area and the bitmap width

	TypeBase   int // first bit of slot 0's type: 8A
	BitmapBase int // bit of slot byte 0 in the inline bitmap: 8A + S*T
	NextBase   int // first bit of the next-bucket pointer: BitmapBase + A
	ValidBit   int // chain-valid bit: NextBase + P

	Classes     []int // slab class sizes in bytes; a type code < len is a class index
	TypeStart   uint8 // 2^T - 1: first slot of an inline KV
	TypeCont    uint8 // 2^T - 2: further slot of an inline KV
	BucketClass int   // class index of chained buckets: the smallest class >= 64 B

	Threshold   int   // bucket.inline_threshold: inline iff key+value bytes <= it
	MaxKey      int   // key.max_key_bytes
	MaxValue    int   // key.max_value_bytes
	KeyLenBits  int   // KL: the header's key_size field, bits [KL-1:0]
	PointerUnit int64 // memory.pointer_unit
	IndexBytes  int64
	HeapBase    int64
	HostBytes   int64
}

// NewLayout derives the layout from cfg and refuses configurations the
// table cannot represent (rules of §2.6 of the document that config.Validate
// does not yet enforce).
func NewLayout(cfg config.Config) (*Layout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := cfg.Bucket
	l := &Layout{
		Slots: b.Slots, SlotBytes: b.SlotBytes, PtrBits: b.PointerBits, SecBits: b.SecHashBits,
		TypeBits: b.SlabTypeBits, AreaBytes: b.Slots * b.SlotBytes,
		Classes:   append([]int(nil), cfg.Slab.Classes...),
		Threshold: b.InlineThreshold, MaxKey: cfg.Key.MaxKeyBytes, MaxValue: cfg.Key.MaxValueBytes,
		KeyLenBits: cfg.KeyLenBits(), PointerUnit: int64(cfg.Memory.PointerUnit),
		IndexBytes: cfg.IndexBytes(), HeapBase: cfg.HeapBase(), HostBytes: cfg.Memory.HostBytes,
	}
	l.TypeBase = 8 * l.AreaBytes
	l.BitmapBase = l.TypeBase + l.Slots*l.TypeBits
	l.NextBase = l.BitmapBase + l.AreaBytes
	l.ValidBit = l.NextBase + l.PtrBits
	if l.ValidBit >= 8*BucketBytes {
		return nil, fmt.Errorf("bucket: layout needs %d bits, more than a 64 B bucket", l.ValidBit+1)
	}
	codes := 1 << l.TypeBits
	if len(l.Classes) > codes-2 {
		return nil, fmt.Errorf("slab.classes: %d classes leave no two spare codes of bucket.slab_type_bits = %d for inline slots (at most %d classes)",
			len(l.Classes), l.TypeBits, codes-2)
	}
	l.TypeStart, l.TypeCont = uint8(codes-1), uint8(codes-2)
	l.BucketClass = -1
	for i, c := range l.Classes {
		if c >= BucketBytes {
			l.BucketClass = i
			break
		}
	}
	if l.BucketClass < 0 {
		return nil, fmt.Errorf("slab.classes: no class of at least %d B to hold a chained bucket", BucketBytes)
	}
	if vb := 16 - l.KeyLenBits; bits.Len(uint(l.MaxValue)) > vb {
		return nil, fmt.Errorf("key.max_value_bytes = %d: the 16-bit slab header has %d value_size bits beside a %d-bit key_size (max %d)",
			l.MaxValue, vb, l.KeyLenBits, 1<<vb-1)
	}
	return l, nil
}

// Bucket is a decoded 64 B bucket.
type Bucket struct {
	Data     [BucketBytes]byte // slot area: bytes [0, A); the rest unused
	Type     [16]uint8         // per slot
	Bitmap   uint64            // bit b = inline bitmap bit of slot byte b
	Next     uint64            // next-bucket pointer (pointer units)
	Valid    bool              // chain valid
	Reserved bool              // some bit above the chain-valid bit is set
}

// SlotKind is what a slot holds, decoded from its own type code and pointer.
type SlotKind uint8

const (
	Empty SlotKind = iota
	OutOfLine
	InlineStart
	InlineCont
	Reserved // a type code no writer produces
)

func (k SlotKind) String() string {
	return [...]string{"empty", "out-of-line", "inline-start", "inline-cont", "reserved"}[k]
}

func mask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(w) - 1
}

func getBits(w *[8]uint64, lo, n int) uint64 {
	wi, bi := lo/64, uint(lo%64)
	v := w[wi] >> bi
	if bi != 0 && int(bi)+n > 64 {
		v |= w[wi+1] << (64 - bi)
	}
	return v & mask(n)
}

func setBits(w *[8]uint64, lo, n int, v uint64) {
	m := mask(n)
	v &= m
	wi, bi := lo/64, uint(lo%64)
	w[wi] = w[wi]&^(m<<bi) | v<<bi
	if bi != 0 && int(bi)+n > 64 {
		w[wi+1] = w[wi+1]&^(m>>(64-bi)) | v>>(64-bi)
	}
}

// Decode unpacks a 64 B line.
func (l *Layout) Decode(raw *[BucketBytes]byte) Bucket {
	var w [8]uint64
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	var b Bucket
	copy(b.Data[:l.AreaBytes], raw[:l.AreaBytes])
	for j := 0; j < l.Slots; j++ {
		b.Type[j] = uint8(getBits(&w, l.TypeBase+l.TypeBits*j, l.TypeBits))
	}
	b.Bitmap = getBits(&w, l.BitmapBase, l.AreaBytes)
	b.Next = getBits(&w, l.NextBase, l.PtrBits)
	b.Valid = getBits(&w, l.ValidBit, 1) == 1
	for lo := l.ValidBit + 1; lo < 8*BucketBytes; lo += 64 {
		if getBits(&w, lo, min(64, 8*BucketBytes-lo)) != 0 {
			b.Reserved = true
		}
	}
	return b
}

// Encode packs b into a 64 B line; reserved bits are written zero.
func (l *Layout) Encode(b *Bucket) [BucketBytes]byte {
	var raw [BucketBytes]byte
	copy(raw[:l.AreaBytes], b.Data[:l.AreaBytes])
	var w [8]uint64
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	for j := 0; j < l.Slots; j++ {
		setBits(&w, l.TypeBase+l.TypeBits*j, l.TypeBits, uint64(b.Type[j]))
	}
	setBits(&w, l.BitmapBase, l.AreaBytes, b.Bitmap)
	setBits(&w, l.NextBase, l.PtrBits, b.Next)
	if b.Valid {
		setBits(&w, l.ValidBit, 1, 1)
	}
	for i := range w {
		binary.LittleEndian.PutUint64(raw[8*i:], w[i])
	}
	return raw
}

// slotValue is slot j's bytes as a little-endian integer (SB <= 8).
func (l *Layout) slotValue(b *Bucket, j int) uint64 {
	var v uint64
	for i := l.SlotBytes - 1; i >= 0; i-- {
		v = v<<8 | uint64(b.Data[l.SlotBytes*j+i])
	}
	return v
}

func (l *Layout) setSlotValue(b *Bucket, j int, v uint64) {
	for i := 0; i < l.SlotBytes; i++ {
		b.Data[l.SlotBytes*j+i] = byte(v >> (8 * i))
	}
}

// SlotPtr and SlotSec are the out-of-line fields of slot j.
func (l *Layout) SlotPtr(b *Bucket, j int) uint64 { return l.slotValue(b, j) & mask(l.PtrBits) }
func (l *Layout) SlotSec(b *Bucket, j int) uint64 { return l.slotValue(b, j) >> uint(l.PtrBits) }

// Kind decodes slot j from its type code and pointer only (§2.3).
func (l *Layout) Kind(b *Bucket, j int) SlotKind {
	switch t := b.Type[j]; {
	case t == l.TypeStart:
		return InlineStart
	case t == l.TypeCont:
		return InlineCont
	case int(t) >= len(l.Classes):
		return Reserved
	case l.SlotPtr(b, j) != 0:
		return OutOfLine
	}
	return Empty
}

func (b *Bucket) mark(pos int) bool { return b.Bitmap>>uint(pos)&1 == 1 }

// regionEnd is the last slot of the inline KV starting at slot j: j and the
// CONT slots right after it.
func (l *Layout) regionEnd(b *Bucket, j int) int {
	e := j
	for e+1 < l.Slots && b.Type[e+1] == l.TypeCont {
		e++
	}
	return e
}

// MatchInline is the per-slot inline comparison of §4.1: the lowest slot j
// holding the first byte of an inline KV whose key equals key.
func (l *Layout) MatchInline(b *Bucket, key []byte) (int, bool) {
	n := len(key)
	for j := 0; j < l.Slots; j++ {
		s := l.SlotBytes * j
		if b.Type[j] != l.TypeStart || s+n > l.AreaBytes {
			continue
		}
		// The key's last byte carries the first mark of the region.
		if b.Bitmap>>uint(s)&mask(n) != 1<<uint(n-1) {
			continue
		}
		if string(b.Data[s:s+n]) == string(key) {
			return j, true
		}
	}
	return 0, false
}

// InlineKV decodes the inline KV starting at slot j: its key and value
// (views into b.Data), its slot count, and whether the marks are well formed
// (one or two marks in the region, the last one in the region's last slot).
func (l *Layout) InlineKV(b *Bucket, j int) (key, value []byte, slots int, ok bool) {
	e := l.regionEnd(b, j)
	lo, hi := l.SlotBytes*j, l.SlotBytes*(e+1)
	first, last, count := -1, -1, 0
	for p := lo; p < hi; p++ {
		if b.mark(p) {
			if first < 0 {
				first = p
			}
			last = p
			count++
		}
	}
	if count < 1 || count > 2 || last < l.SlotBytes*e {
		return nil, nil, e - j + 1, false
	}
	return b.Data[lo : first+1], b.Data[first+1 : last+1], e - j + 1, true
}

// Form is where a KV of a given size lives: inline in Slots slots, or
// out-of-line in a slab of class Class.
type Form struct {
	Inline bool
	Slots  int // slots the KV needs in a bucket (1 when out-of-line)
	Class  int // class index when out-of-line
}

// FormOf is the rule of §3: inline iff key+value bytes <= the threshold;
// otherwise the smallest class holding header+key+value.
func (l *Layout) FormOf(keyLen, valueLen int) Form {
	used := keyLen + valueLen
	if used <= l.Threshold {
		return Form{Inline: true, Slots: (used + l.SlotBytes - 1) / l.SlotBytes}
	}
	for c, size := range l.Classes {
		if HeaderBytes+used <= size {
			return Form{Slots: 1, Class: c}
		}
	}
	return Form{Slots: 1, Class: -1} // refused earlier by the value-length check
}

// placeInline writes an inline KV into slots j.. of b (the slots are empty).
func (l *Layout) placeInline(b *Bucket, j int, key, value []byte) {
	s := l.SlotBytes * j
	n := copy(b.Data[s:], key)
	n += copy(b.Data[s+n:], value)
	slots := (n + l.SlotBytes - 1) / l.SlotBytes
	clear(b.Data[s+n : s+slots*l.SlotBytes])
	b.Bitmap |= 1<<uint(s+len(key)-1) | 1<<uint(s+n-1)
	b.Type[j] = l.TypeStart
	for i := 1; i < slots; i++ {
		b.Type[j+i] = l.TypeCont
	}
}

// placeOutOfLine writes an out-of-line slot.
func (l *Layout) placeOutOfLine(b *Bucket, j int, ptr, sec uint64, class int) {
	l.setSlotValue(b, j, ptr&mask(l.PtrBits)|sec<<uint(l.PtrBits))
	b.Type[j] = uint8(class)
}

// clearSlots returns slots j..j+n-1 to the canonical empty form.
func (l *Layout) clearSlots(b *Bucket, j, n int) {
	lo, hi := l.SlotBytes*j, l.SlotBytes*(j+n)
	clear(b.Data[lo:hi])
	b.Bitmap &^= mask(hi-lo) << uint(lo)
	for i := j; i < j+n; i++ {
		b.Type[i] = 0
	}
}

// FirstRun is the lowest slot starting a run of n empty slots, or -1.
func (l *Layout) FirstRun(b *Bucket, n int) int {
	run := 0
	for j := 0; j < l.Slots; j++ {
		if l.Kind(b, j) != Empty {
			run = 0
			continue
		}
		run++
		if run == n {
			return j - n + 1
		}
	}
	return -1
}

// IsEmpty reports whether every slot of b is empty.
func (l *Layout) IsEmpty(b *Bucket) bool {
	for j := 0; j < l.Slots; j++ {
		if l.Kind(b, j) != Empty {
			return false
		}
	}
	return true
}

// EncodeHeader and DecodeHeader are the slab-object header (§3.1): a 16-bit
// little-endian word, key_size in bits [KL-1:0], value_size above.
func (l *Layout) EncodeHeader(keyLen, valueLen int) uint16 {
	return uint16(keyLen | valueLen<<uint(l.KeyLenBits))
}

func (l *Layout) DecodeHeader(h uint16) (keyLen, valueLen int) {
	return int(h) & (1<<uint(l.KeyLenBits) - 1), int(h) >> uint(l.KeyLenBits)
}

// ParseObject splits a slab object of class size len(obj) into key and
// value; ok is false when the header does not fit the object.
func (l *Layout) ParseObject(obj []byte) (key, value []byte, ok bool) {
	if len(obj) < HeaderBytes {
		return nil, nil, false
	}
	kl, vl := l.DecodeHeader(binary.LittleEndian.Uint16(obj))
	if HeaderBytes+kl+vl > len(obj) {
		return nil, nil, false
	}
	return obj[HeaderBytes : HeaderBytes+kl], obj[HeaderBytes+kl : HeaderBytes+kl+vl], true
}

// ObjectImage is what a PUT writes to a slab: header, key, value, zero up to
// the end of the last 32 B beat.
func (l *Layout) ObjectImage(key, value []byte) []byte {
	used := HeaderBytes + len(key) + len(value)
	img := make([]byte, (used+BeatBytes-1)/BeatBytes*BeatBytes)
	binary.LittleEndian.PutUint16(img, l.EncodeHeader(len(key), len(value)))
	copy(img[HeaderBytes:], key)
	copy(img[HeaderBytes+len(key):], value)
	return img
}

// Addr is the byte address of a slab pointer.
func (l *Layout) Addr(ptr uint64) int64 { return int64(ptr) * l.PointerUnit }

// Ptr is the slab pointer of a byte address.
func (l *Layout) Ptr(addr int64) uint64 { return uint64(addr / l.PointerUnit) }

// Exported forms of the bucket edits the PUT and DELETE algorithms make, for
// the timed engine's golden model (golden/htengine), which performs the same
// steps one read at a time. Each is exactly the unexported helper.

// RegionEnd is the last slot of the inline KV starting at slot j (§2.3): j
// and the inline-cont slots right after it.
func (l *Layout) RegionEnd(b *Bucket, j int) int { return l.regionEnd(b, j) }

// PlaceInline writes an inline KV into the empty slots j.. of b (§2.3).
func (l *Layout) PlaceInline(b *Bucket, j int, key, value []byte) { l.placeInline(b, j, key, value) }

// PlaceOutOfLine writes an out-of-line slot: pointer | sec << P, type class.
func (l *Layout) PlaceOutOfLine(b *Bucket, j int, ptr, sec uint64, class int) {
	l.placeOutOfLine(b, j, ptr, sec, class)
}

// ClearSlots returns slots j..j+n-1 of b to the canonical empty form.
func (l *Layout) ClearSlots(b *Bucket, j, n int) { l.clearSlots(b, j, n) }
