package hashtable

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
)

func preset(t *testing.T, name string, sets ...string) config.Config {
	t.Helper()
	cfg, err := config.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if err := cfg.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func layout(t *testing.T, cfg config.Config) *Layout {
	t.Helper()
	l, err := NewLayout(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wideConfig scales every bucket key away from the paper's, so that a
// position computed from a paper constant instead of the configuration
// shows up.
func wideConfig(t *testing.T) config.Config {
	cfg := preset(t, "sim")
	cfg.Bucket = config.BucketConfig{Slots: 6, SlotBytes: 8, PointerBits: 40, SecHashBits: 24, SlabTypeBits: 3, InlineThreshold: 44}
	cfg.Memory.IndexBuckets = 8
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The worked example of docs/microarch/hashtable.md §2.6, byte for byte.
func TestWorkedExample(t *testing.T) {
	l := layout(t, preset(t, "paper"))
	var b Bucket
	l.placeInline(&b, 0, []byte("id"), []byte("42"))
	l.placeInline(&b, 1, []byte("user"), []byte("alice"))
	l.placeOutOfLine(&b, 3, 0x123458, 0x1a5, 3)
	b.Next, b.Valid = 0xabcde2, true
	raw := l.Encode(&b)

	doc := `
00: 69 64 34 32 00 75 73 65 72 61 6c 69 63 65 00 58
10: 34 12 80 d2 00 00 00 00 00 00 00 00 00 00 00 00
20: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
30: 00 00 bf 07 00 80 42 08 00 00 00 00 e2 cd ab 80`
	var want []byte
	for _, line := range strings.Split(strings.TrimSpace(doc), "\n") {
		p, err := hex.DecodeString(strings.ReplaceAll(line[4:], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	if !bytes.Equal(raw[:], want) {
		t.Fatalf("bucket\n% x\nwant\n% x", raw, want)
	}
	var word strings.Builder
	for i := 63; i >= 0; i-- {
		fmt.Fprintf(&word, "%02x", raw[i])
	}
	if w := "80abcde2000000000842800007bf000000000000000000000000000000000000000000000000000000000000d280123458006563696c61726573750032346469"; word.String() != w {
		t.Fatalf("512-bit word %s", word.String())
	}

	d := l.Decode(&raw)
	if d != b {
		t.Fatalf("decode(encode(b)) = %+v, want %+v", d, b)
	}
	if d.Bitmap != 0x210a {
		t.Errorf("bitmap %#x", d.Bitmap)
	}
	kinds := []SlotKind{InlineStart, InlineStart, InlineCont, OutOfLine, Empty}
	for j, k := range kinds {
		if got := l.Kind(&d, j); got != k {
			t.Errorf("slot %d: %v, want %v", j, got, k)
		}
	}
	for _, c := range []struct {
		key, value string
		slot       int
	}{{"id", "42", 0}, {"user", "alice", 1}} {
		j, ok := l.MatchInline(&d, []byte(c.key))
		if !ok || j != c.slot {
			t.Errorf("MatchInline(%q) = %d %v", c.key, j, ok)
		}
		k, v, _, ok := l.InlineKV(&d, j)
		if !ok || string(k) != c.key || string(v) != c.value {
			t.Errorf("InlineKV(%d) = %q %q %v", j, k, v, ok)
		}
	}
	for _, miss := range []string{"i", "use", "users", "idx", "42", "d"} {
		if j, ok := l.MatchInline(&d, []byte(miss)); ok {
			t.Errorf("MatchInline(%q) hit slot %d", miss, j)
		}
	}
	if p, s := l.SlotPtr(&d, 3), l.SlotSec(&d, 3); p != 0x123458 || s != 0x1a5 {
		t.Errorf("slot 3: ptr %#x sec %#x", p, s)
	}
	if h := l.EncodeHeader(8, 246); h != 0x3d88 {
		t.Errorf("header(8, 246) = %#x, the document says 0x3d88", h)
	}
}

func bitOf(raw *[BucketBytes]byte, n int) int { return int(raw[n/8] >> uint(n%8) & 1) }

// Each field alone, at the positions of the §2.1 table for `paper`.
func TestPaperFieldPositions(t *testing.T) {
	l := layout(t, preset(t, "paper"))
	if l.TypeBase != 400 || l.BitmapBase != 430 || l.NextBase != 480 || l.ValidBit != 511 ||
		l.TypeStart != 7 || l.TypeCont != 6 || l.BucketClass != 1 || l.KeyLenBits != 6 {
		t.Fatalf("paper layout %+v", l)
	}
	only := func(name string, set func(b *Bucket), bits ...int) {
		t.Helper()
		var b Bucket
		set(&b)
		raw := l.Encode(&b)
		want := map[int]bool{}
		for _, n := range bits {
			want[n] = true
		}
		for n := 0; n < 512; n++ {
			if (bitOf(&raw, n) == 1) != want[n] {
				t.Errorf("%s: bit %d is %d", name, n, bitOf(&raw, n))
			}
		}
	}
	for j := 0; j < 10; j++ {
		only(fmt.Sprintf("slot %d pointer lsb", j), func(b *Bucket) { l.placeOutOfLine(b, j, 1, 0, 0) }, 40*j)
		only(fmt.Sprintf("slot %d pointer msb", j), func(b *Bucket) { l.placeOutOfLine(b, j, 1<<30, 0, 0) }, 40*j+30)
		only(fmt.Sprintf("slot %d sec lsb", j), func(b *Bucket) { l.placeOutOfLine(b, j, 0, 1, 0) }, 40*j+31)
		only(fmt.Sprintf("slot %d sec msb", j), func(b *Bucket) { l.placeOutOfLine(b, j, 0, 1<<8, 0) }, 40*j+39)
		only(fmt.Sprintf("slot %d type", j), func(b *Bucket) { b.Type[j] = 5 }, 400+3*j, 400+3*j+2)
	}
	only("bitmap byte 0", func(b *Bucket) { b.Bitmap = 1 }, 430)
	only("bitmap byte 49", func(b *Bucket) { b.Bitmap = 1 << 49 }, 479)
	only("next lsb", func(b *Bucket) { b.Next = 1 }, 480)
	only("next msb", func(b *Bucket) { b.Next = 1 << 30 }, 510)
	only("chain valid", func(b *Bucket) { b.Valid = true }, 511)
}

// Random buckets survive encode/decode in every layout, and the reserved
// bits above the chain-valid bit are detected.
func TestEncodeDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cfg := range []config.Config{preset(t, "paper"), preset(t, "sim"), wideConfig(t)} {
		l := layout(t, cfg)
		for range 2000 {
			var b Bucket
			for i := 0; i < l.AreaBytes; i++ {
				b.Data[i] = byte(rng.Uint32())
			}
			for j := 0; j < l.Slots; j++ {
				b.Type[j] = uint8(rng.IntN(1 << l.TypeBits))
			}
			b.Bitmap = rng.Uint64() & mask(l.AreaBytes)
			b.Next = rng.Uint64() & mask(l.PtrBits)
			b.Valid = rng.IntN(2) == 1
			raw := l.Encode(&b)
			if d := l.Decode(&raw); d != b {
				t.Fatalf("%s: decode(encode(%+v)) = %+v", cfg.Name, b, d)
			}
			if l.ValidBit < 511 {
				raw[63] |= 0x80
				if d := l.Decode(&raw); !d.Reserved {
					t.Fatalf("%s: reserved bit 511 not noticed", cfg.Name)
				}
			}
		}
	}
}

func TestNewLayoutRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *config.Config)
		want string
	}{
		{"no spare type codes", func(c *config.Config) { c.Slab.Classes = []int{32, 64, 128, 256, 512, 1024, 2048} }, "spare codes"},
		{"header too narrow", func(c *config.Config) { c.Key.MaxKeyBytes, c.Key.MaxValueBytes = 200, 300 }, "header"},
		{"no bucket class", func(c *config.Config) {
			c.Slab.Classes = []int{32}
			c.Key.MaxKeyBytes, c.Key.MaxValueBytes = 8, 20
		}, "chained bucket"},
	}
	for _, c := range cases {
		cfg := preset(t, "sim")
		c.edit(&cfg)
		// config.Validate refuses these too; the layout must not rely on it.
		if _, err := NewLayout(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewLayout error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestFormOf(t *testing.T) {
	l := layout(t, preset(t, "paper"))
	for _, c := range []struct {
		k, v int
		want Form
	}{
		{1, 0, Form{Inline: true, Slots: 1}},
		{5, 5, Form{Inline: true, Slots: 2}},
		{2, 4, Form{Inline: true, Slots: 2}},
		{32, 18, Form{Inline: true, Slots: 10}},
		{32, 19, Form{Slots: 1, Class: 1}}, // 2+51 B fit 64 B
		{32, 31, Form{Slots: 1, Class: 2}}, // 2+63 B do not
		{8, 246, Form{Slots: 1, Class: 3}}, // exactly 256 B
		{32, 478, Form{Slots: 1, Class: 4}},
	} {
		if got := l.FormOf(c.k, c.v); got != c.want {
			t.Errorf("FormOf(%d, %d) = %+v, want %+v", c.k, c.v, got, c.want)
		}
	}
	l.Threshold = 0
	if got := l.FormOf(8, 20); got != (Form{Slots: 1, Class: 0}) {
		t.Errorf("threshold 0: FormOf(8, 20) = %+v", got)
	}
}
