// Package config is the typed configuration of the KV processor: every size
// the generators and the golden models are built from. Both sides read the same
// configuration, never each other.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Config is the whole processor configuration. Field names in JSON are the
// keys users write in files and in --set.
type Config struct {
	// Name is the preset or file the configuration came from; it is not part
	// of the hash, so two identical configurations hash the same.
	Name string `json:"-"`

	ClockMHz float64 `json:"clock_mhz"`

	Key     KeyConfig     `json:"key"`
	Bucket  BucketConfig  `json:"bucket"`
	Memory  MemoryConfig  `json:"memory"`
	Slab    SlabConfig    `json:"slab"`
	RS      RSConfig      `json:"rs"`
	ROB     ROBConfig     `json:"rob"`
	Engine  EngineConfig  `json:"engine"`
	DMA     DMAConfig     `json:"dma"`
	DRAM    DRAMConfig    `json:"dram"`
	Net     NetConfig     `json:"net"`
	KeyHash KeyHashConfig `json:"key_hash"`
	Vector  VectorConfig  `json:"vector"`
	Atomic  AtomicConfig  `json:"atomic"`
}

// KeyConfig bounds the keys and values the processor accepts.
type KeyConfig struct {
	MaxKeyBytes   int `json:"max_key_bytes"`
	MaxValueBytes int `json:"max_value_bytes"`
}

// BucketConfig is the hash-index bucket layout (reference §2).
type BucketConfig struct {
	Slots           int `json:"slots"`
	SlotBytes       int `json:"slot_bytes"`
	PointerBits     int `json:"pointer_bits"`
	SecHashBits     int `json:"sec_hash_bits"`
	SlabTypeBits    int `json:"slab_type_bits"`
	InlineThreshold int `json:"inline_threshold"`
}

// MemoryConfig sizes host memory and its split into index and slabs.
type MemoryConfig struct {
	HostBytes    int64 `json:"host_bytes"`
	IndexBuckets int64 `json:"index_buckets"`
	// PointerUnit is the granularity a slab pointer counts in (32 B).
	PointerUnit int `json:"pointer_unit"`
}

// SlabConfig is the slab allocator (reference §3).
type SlabConfig struct {
	Classes        []int `json:"classes"`
	NICStack       int   `json:"nic_stack_entries"`
	LowWatermark   int   `json:"low_watermark"`
	HighWatermark  int   `json:"high_watermark"`
	DMABatch       int   `json:"dma_batch_entries"`
	HostRing       int   `json:"host_ring_entries"`
	DaemonPeriodNs int   `json:"daemon_period_ns"`
}

// RSConfig is the reservation station (reference §4).
type RSConfig struct {
	Slots       int  `json:"slots"`
	MaxInflight int  `json:"max_inflight"`
	Forwarding  bool `json:"forwarding"`
	// IdleCache lets an idle slot answer GETs from the value it cached
	// (docs/microarch/rs.md §11, v4a); without Forwarding it has no effect. Omitted from the JSON when false so
	// that every configuration written before it keeps its hash, and with
	// it the committed RTL's bytes and the recorded synthesis runs.
	IdleCache bool `json:"idle_cache,omitempty"`
}

// ROBConfig is the reorder buffer between the packet decoder and the
// response encoder (docs/microarch/rob.md, processor.md §2.1).
type ROBConfig struct {
	// Entries is how many operations may be between decode and response:
	// the tags. It is sized apart from rs.max_inflight because an entry
	// also waits for every older operation of its stream.
	Entries int `json:"entries"`
}

// EngineConfig is the timed hash-table engine (docs/microarch/engine.md).
type EngineConfig struct {
	// Contexts is how many operations the engine keeps in flight.
	Contexts int `json:"contexts"`
	// ReadBytes is the engine's read data per transfer: 32 (one beat) or
	// 64 (the wide port of docs/microarch.md §1.7, a bucket a cycle).
	ReadBytes int `json:"read_bytes"`
}

// DMAConfig describes the PCIe links (reference §5).
type DMAConfig struct {
	Links         int `json:"links"`
	TagsPerLink   int `json:"tags_per_link"`
	DataBytes     int `json:"data_bytes"`
	TLPOverhead   int `json:"tlp_overhead_bytes"`
	LatencyMinNs  int `json:"latency_min_ns"`
	LatencyP50Ns  int `json:"latency_p50_ns"`
	LatencyP99Ns  int `json:"latency_p99_ns"`
	LatencyMaxNs  int `json:"latency_max_ns"`
	WriteLatencyN int `json:"write_latency_ns"`
	// ReadBufferBeats is the memory system's read buffer per client
	// (memory.md §1, RB): a client has at most this many beats of reads
	// outstanding, so it bounds a client's reads in flight.
	ReadBufferBeats int `json:"read_buffer_beats"`
}

// DRAMConfig describes the on-board DRAM cache and the load dispatcher.
type DRAMConfig struct {
	Bytes         int64   `json:"bytes"`
	CacheFraction float64 `json:"cache_fraction"`
	LatencyNs     int     `json:"latency_ns"`
	GBPerSec      float64 `json:"gb_per_sec"`
}

// NetConfig is the network port's streaming width.
type NetConfig struct {
	BytesPerCycle int `json:"bytes_per_cycle"`
}

// KeyHashConfig seeds the key-hash functions (docs/microarch.md §2).
type KeyHashConfig struct {
	Seed uint64 `json:"seed"`
}

// VectorConfig sets the element width of vector operations.
type VectorConfig struct {
	ElementBits int `json:"element_bits"`
}

// AtomicConfig is the atomic unit and its registered λ functions
// (docs/microarch/lambda.md).
type AtomicConfig struct {
	// ScalarBits is the width of old, delta, cmp, swap and the result.
	ScalarBits int `json:"scalar_bits"`
	// Division allows / and % in λs; off by default because each one costs a
	// ScalarBits-stage combinational divider.
	Division bool     `json:"division"`
	Lambdas  []Lambda `json:"lambdas"`
}

// Lambda is one registered update function; its function id is its position
// in AtomicConfig.Lambdas.
type Lambda struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

// UnmarshalJSON starts from an empty Lambda: encoding/json decodes list
// elements in place, so a file that overrides the preset's list would
// otherwise inherit a field it leaves out from the preset's λ at that index.
func (l *Lambda) UnmarshalJSON(data []byte) error {
	type plain Lambda
	var p plain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*l = Lambda(p)
	return nil
}

// MaxLambdas bounds the λ list: every λ is built in parallel in the atomic
// unit, so each one costs area whether or not it is used.
const MaxLambdas = 16

// presets are the named configurations; each is built by a function so that
// callers can never share (and mutate) one copy.
var presets = map[string]func() Config{
	"paper": paper,
	"sim":   sim,
}

// Presets lists the preset names in a stable order.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// paper carries the paper's sizes (reference §1–§6).
func paper() Config {
	return Config{
		Name:     "paper",
		ClockMHz: 180,
		Key:      KeyConfig{MaxKeyBytes: 32, MaxValueBytes: 478},
		Bucket: BucketConfig{
			Slots: 10, SlotBytes: 5, PointerBits: 31, SecHashBits: 9,
			SlabTypeBits: 3, InlineThreshold: 50,
		},
		// 31-bit pointers in 32 B units address 64 GiB; the paper's index
		// ratio leaves the rest to slabs.
		Memory: MemoryConfig{HostBytes: 64 << 30, IndexBuckets: 1 << 28, PointerUnit: 32},
		Slab: SlabConfig{
			Classes: []int{32, 64, 128, 256, 512}, NICStack: 2048,
			LowWatermark: 1024, HighWatermark: 2048 - 512, DMABatch: 512,
			HostRing: 4096, DaemonPeriodNs: 1000,
		},
		RS: RSConfig{Slots: 1024, MaxInflight: 256, Forwarding: true},
		// 128 contexts and 1,024 reorder entries: past them the engine's read
		// port and the memory system bound the processor, not these
		// (engine.md §12, processor.md §2.1).
		ROB:    ROBConfig{Entries: 1024},
		Engine: EngineConfig{Contexts: 256, ReadBytes: 64},
		DMA: DMAConfig{
			Links: 2, TagsPerLink: 64, DataBytes: 32, TLPOverhead: 26,
			LatencyMinNs: 750, LatencyP50Ns: 960, LatencyP99Ns: 1220, LatencyMaxNs: 1350,
			WriteLatencyN: 500, ReadBufferBeats: 512,
		},
		DRAM:    DRAMConfig{Bytes: 4 << 30, CacheFraction: 0.5, LatencyNs: 200, GBPerSec: 12.8},
		Net:     NetConfig{BytesPerCycle: 28},
		KeyHash: KeyHashConfig{Seed: 0x6b76642d68617368}, // "kvd-hash"
		Vector:  VectorConfig{ElementBits: 32},
		Atomic: AtomicConfig{
			ScalarBits: 64,
			Lambdas: []Lambda{
				{Name: "fetch_add", Expr: "old + delta"},
				{Name: "cas", Expr: "old == cmp ? swap : old"},
				{Name: "max", Expr: "max(old, delta)"},
				{Name: "min", Expr: "min(old, delta)"},
				{Name: "fetch_xor", Expr: "bitxor(old, delta)"},
				{Name: "set_bit", Expr: "bitor(old, bitshl(1, delta))"},
				// Saturating add; the bounds are written width-independently
				// so the preset stays valid under --set atomic.scalar_bits.
				{Name: "sat_add", Expr: "let s = old + delta; delta >= 0 ? (s < old ? bitushr(-1, 1) : s) : (s > old ? bitnot(bitushr(-1, 1)) : s)"},
			},
		},
	}
}

// sim keeps the paper's layout and pipeline but shrinks memories so that
// co-simulation builds and runs fast.
func sim() Config {
	c := paper()
	c.Name = "sim"
	c.Key.MaxKeyBytes = 16
	c.Memory = MemoryConfig{HostBytes: 16 << 20, IndexBuckets: 1 << 14, PointerUnit: 32}
	c.Slab.NICStack = 64
	c.Slab.LowWatermark = 16
	c.Slab.HighWatermark = 48
	c.Slab.DMABatch = 16
	c.Slab.HostRing = 128
	c.RS.Slots = 256
	c.RS.MaxInflight = 64
	c.ROB.Entries = 64
	c.Engine.Contexts = 8
	// The narrow read port keeps the engine's §10 timelines; the wide one
	// is the paper preset's, and its tests set it (TestHTCosimWide).
	c.Engine.ReadBytes = 32
	c.DMA.TagsPerLink = 16
	c.DMA.ReadBufferBeats = 256
	c.DRAM.Bytes = 4 << 20
	c.Net.BytesPerCycle = 16
	return c
}

// Preset returns a copy of the named preset.
func Preset(name string) (Config, error) {
	f, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q (known: %s)", name, strings.Join(Presets(), ", "))
	}
	return f(), nil
}

// Load resolves a --config argument: a preset name, or a JSON file path. A
// file may set "base" to a preset and override only some keys.
func Load(nameOrPath string) (Config, error) {
	if _, ok := presets[nameOrPath]; ok {
		return Preset(nameOrPath)
	}
	if !strings.ContainsAny(nameOrPath, "./") && !fileExists(nameOrPath) {
		return Config{}, fmt.Errorf("config %q: not a preset (known: %s) and no such file", nameOrPath, strings.Join(Presets(), ", "))
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return Config{}, fmt.Errorf("config %q: %v", nameOrPath, unwrapPathError(err))
	}
	return Parse(nameOrPath, data)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Parse reads a JSON configuration. Its "base" key names the preset it starts
// from ("sim" when absent); unknown keys are refused.
func Parse(name string, data []byte) (Config, error) {
	var head struct {
		Base string `json:"base"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Config{}, fmt.Errorf("config %s: %v", name, err)
	}
	if head.Base == "" {
		head.Base = "sim"
	}
	c, err := Preset(head.Base)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: base: %v", name, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config %s: %v", name, err)
	}
	delete(raw, "base")
	rest, _ := json.Marshal(raw)
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %v", name, err)
	}
	c.Name = name
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %v", name, err)
	}
	return c, nil
}

// Set applies one "dotted.key=value" override. The value is read as JSON
// (numbers, booleans, lists) and falls back to a plain string.
func (c *Config) Set(assign string) error {
	key, val, ok := strings.Cut(assign, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want key=value, e.g. rs.slots=512", assign)
	}
	tree, err := c.tree()
	if err != nil {
		return err
	}
	path := strings.Split(key, ".")
	node := tree
	for i, p := range path[:len(path)-1] {
		next, ok := node[p].(map[string]any)
		if !ok {
			return fmt.Errorf("--set %s: unknown key %q (known: %s)", key, strings.Join(path[:i+1], "."), keysOf(node))
		}
		node = next
	}
	leaf := path[len(path)-1]
	old, ok := node[leaf]
	if !ok && hasOmittedKey(path) {
		old, ok = nil, true
	}
	if !ok {
		return fmt.Errorf("--set %s: unknown key (known at this level: %s)", key, keysOf(node))
	}
	if _, isMap := old.(map[string]any); isMap {
		return fmt.Errorf("--set %s: is a group of keys, not a value (its keys: %s)", key, keysOf(old.(map[string]any)))
	}
	v, err := decodeNumbers([]byte(val))
	if err != nil {
		v = val
	}
	if _, isList := old.([]any); isList {
		if s, isStr := v.(string); isStr {
			// "32,64,128" is friendlier on a command line than "[32,64,128]".
			var items []any
			for _, f := range strings.Split(s, ",") {
				f = strings.TrimSpace(f)
				if _, err := strconv.ParseFloat(f, 64); err != nil {
					return fmt.Errorf("--set %s=%s: want a comma-separated list of numbers", key, val)
				}
				items = append(items, json.Number(f))
			}
			v = items
		}
	}
	node[leaf] = v
	data, _ := json.Marshal(tree)
	name := c.Name
	var nc Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nc); err != nil {
		return fmt.Errorf("--set %s=%s: %v", key, val, simplifyJSONError(err))
	}
	nc.Name = name
	if err := nc.Validate(); err != nil {
		return fmt.Errorf("--set %s=%s: %v", key, val, err)
	}
	*c = nc
	return nil
}

// hasOmittedKey reports whether path names a field that the JSON form
// leaves out at its zero value (",omitempty"), so that --set can still
// name it.
func hasOmittedKey(path []string) bool {
	t := reflect.TypeOf(Config{})
	for i, p := range path {
		if t.Kind() != reflect.Struct {
			return false
		}
		found := false
		for j := 0; j < t.NumField(); j++ {
			f := t.Field(j)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != p {
				continue
			}
			if i == len(path)-1 {
				return strings.Contains(opts, "omitempty")
			}
			t, found = f.Type, true
			break
		}
		if !found {
			return false
		}
	}
	return false
}

func simplifyJSONError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("want a value of type %s, got a %s", te.Type, te.Value)
	}
	return err
}

func keysOf(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func (c *Config) tree() (map[string]any, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	v, err := decodeNumbers(data)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// decodeNumbers keeps numbers as json.Number so 64-bit values (the hash
// seed) survive a round trip through a generic tree.
func decodeNumbers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// JSON is the canonical form: encoding/json writes struct fields in
// declaration order, so it is independent of the order keys came in.
func (c Config) JSON() []byte {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err) // a Config always marshals
	}
	return append(data, '\n')
}

// Hash identifies the configuration in headers, run records and caches.
func (c Config) Hash() string {
	data, _ := json.Marshal(c)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// Validate checks every rule the hardware relies on; the error is one line
// naming the key, the value and the rule.
func (c Config) Validate() error {
	type rule struct {
		key string
		val any
		ok  bool
		why string
	}
	b := c.Bucket
	slotBits := b.SlotBytes * 8
	rules := []rule{
		{"clock_mhz", c.ClockMHz, c.ClockMHz > 0 && c.ClockMHz <= 1000, "must be in (0, 1000]"},
		{"key.max_key_bytes", c.Key.MaxKeyBytes, c.Key.MaxKeyBytes >= 1 && c.Key.MaxKeyBytes <= 255, "must be 1..255"},
		{"key.max_value_bytes", c.Key.MaxValueBytes, bits.Len(uint(c.Key.MaxValueBytes))+bits.Len(uint(c.Key.MaxKeyBytes)) <= 16,
			"key and value sizes must share the slab object's 2-byte header (docs/microarch/hashtable.md)"},
		{"key.max_value_bytes", c.Key.MaxValueBytes, c.Key.MaxValueBytes >= 1, "must be at least 1"},
		{"bucket.slots", b.Slots, b.Slots >= 1 && b.Slots <= 16, "must be 1..16"},
		{"bucket.slot_bytes", b.SlotBytes, b.SlotBytes >= 2 && b.SlotBytes <= 8, "must be 2..8"},
		{"bucket.pointer_bits", b.PointerBits, b.PointerBits >= 8 && b.PointerBits <= 48, "must be 8..48"},
		{"bucket.sec_hash_bits", b.SecHashBits, b.SecHashBits >= 1 && b.PointerBits+b.SecHashBits == slotBits,
			fmt.Sprintf("pointer_bits + sec_hash_bits must fill a slot exactly (%d bits)", slotBits)},
		{"bucket.slab_type_bits", b.SlabTypeBits, b.SlabTypeBits >= 1 && (1<<b.SlabTypeBits) >= len(c.Slab.Classes),
			fmt.Sprintf("must number every slab class (%d classes)", len(c.Slab.Classes))},
		{"bucket.inline_threshold", b.InlineThreshold, b.InlineThreshold >= 0 && b.InlineThreshold <= b.Slots*b.SlotBytes,
			fmt.Sprintf("must be at most the slot bytes, %d", b.Slots*b.SlotBytes)},
		{"bucket", fmt.Sprintf("%d slots x %d B", b.Slots, b.SlotBytes), c.BucketBits() <= 512,
			fmt.Sprintf("layout needs %d bits, more than a 64 B bucket", c.BucketBits())},
		{"memory.pointer_unit", c.Memory.PointerUnit, isPow2(int64(c.Memory.PointerUnit)) && c.Memory.PointerUnit <= 64, "must be a power of two, at most 64"},
		{"memory.host_bytes", c.Memory.HostBytes, isPow2(c.Memory.HostBytes) && c.Memory.HostBytes >= 1<<16, "must be a power of two, at least 64 KiB"},
		{"memory.host_bytes", c.Memory.HostBytes, c.Memory.HostBytes/int64(c.Memory.PointerUnit) <= 1<<uint(b.PointerBits),
			fmt.Sprintf("bucket.pointer_bits=%d in %d B units address only %d bytes", b.PointerBits, c.Memory.PointerUnit, int64(c.Memory.PointerUnit)<<uint(min(b.PointerBits, 40)))},
		{"memory.host_bytes", c.Memory.HostBytes, c.Memory.PointerUnit > 0 && c.Memory.HostBytes/int64(c.Memory.PointerUnit) <= 1<<32,
			"slab ring entries are 4 bytes: at most 2^32 pointer units (docs/microarch/slab.md)"},
		{"memory.index_buckets", c.Memory.IndexBuckets, isPow2(c.Memory.IndexBuckets) && c.Memory.IndexBuckets >= 2, "must be a power of two, at least 2 (the bucket index is a hash's low bits)"},
		{"memory.index_buckets", c.Memory.IndexBuckets, c.Memory.IndexBuckets*64 < c.Memory.HostBytes, "index must leave room for slabs in memory.host_bytes"},
		{"slab.classes", c.Slab.Classes, len(c.Slab.Classes) >= 1 && len(c.Slab.Classes) <= 8, "must list 1..8 classes"},
		{"slab.nic_stack_entries", c.Slab.NICStack, isPow2(int64(c.Slab.NICStack)) && c.Slab.NICStack >= 4, "must be a power of two, at least 4"},
		{"slab.low_watermark", c.Slab.LowWatermark, c.Slab.LowWatermark >= 0 && c.Slab.LowWatermark < c.Slab.HighWatermark, "must be below slab.high_watermark"},
		{"slab.high_watermark", c.Slab.HighWatermark, c.Slab.HighWatermark <= c.Slab.NICStack, "must be at most slab.nic_stack_entries"},
		{"slab.dma_batch_entries", c.Slab.DMABatch, c.Slab.DMABatch >= 1 && c.Slab.DMABatch <= c.Slab.LowWatermark && c.Slab.DMABatch <= c.Slab.NICStack-c.Slab.HighWatermark,
			"must fit below the low watermark and above the high watermark"},
		{"slab.host_ring_entries", c.Slab.HostRing, isPow2(int64(c.Slab.HostRing)) && c.Slab.DMABatch > 0 && c.Slab.HostRing >= 2*c.Slab.DMABatch && c.Slab.HostRing%c.Slab.DMABatch == 0,
			"must be a power of two holding at least two DMA batches"},
		{"slab.dma_batch_entries", c.Slab.DMABatch, c.Slab.DMABatch%8 == 0, "must be a multiple of 8 (whole 32 B beats of 4 B entries)"},
		{"memory.host_bytes", c.Memory.HostBytes, c.HeapBase() < c.Memory.HostBytes, "leaves no room for the slab heap after the index and the slab rings"},
		{"rs.slots", c.RS.Slots, isPow2(int64(c.RS.Slots)) && c.RS.Slots >= 2, "must be a power of two, at least 2"},
		{"rs.max_inflight", c.RS.MaxInflight, c.RS.MaxInflight >= 1 && c.RS.MaxInflight <= 4096, "must be 1..4096"},
		{"rob.entries", c.ROB.Entries, c.ROB.Entries >= 1 && c.ROB.Entries <= 4096, "must be 1..4096"},
		{"engine.contexts", c.Engine.Contexts, c.Engine.Contexts >= 2 && c.Engine.Contexts <= 256, "must be 2..256"},
		{"engine.read_bytes", c.Engine.ReadBytes, c.Engine.ReadBytes == 32 || c.Engine.ReadBytes == 64, "must be 32 or 64"},
		{"dma.links", c.DMA.Links, c.DMA.Links >= 1 && c.DMA.Links <= 4, "must be 1..4"},
		{"dma.tags_per_link", c.DMA.TagsPerLink, isPow2(int64(c.DMA.TagsPerLink)), "must be a power of two"},
		{"dma.read_buffer_beats", c.DMA.ReadBufferBeats, isPow2(int64(c.DMA.ReadBufferBeats)) && c.DMA.ReadBufferBeats >= 32 && c.DMA.ReadBufferBeats <= 4096, "must be a power of two, 32..4096"},
		{"dma.data_bytes", c.DMA.DataBytes, isPow2(int64(c.DMA.DataBytes)) && c.DMA.DataBytes <= 64, "must be a power of two, at most 64"},
		{"dma.latency_min_ns", c.DMA.LatencyMinNs, c.DMA.LatencyMinNs > 0 && c.DMA.LatencyMinNs <= c.DMA.LatencyP50Ns &&
			c.DMA.LatencyP50Ns <= c.DMA.LatencyP99Ns && c.DMA.LatencyP99Ns <= c.DMA.LatencyMaxNs, "must satisfy 0 < min <= p50 <= p99 <= max"},
		{"dram.cache_fraction", c.DRAM.CacheFraction, c.DRAM.CacheFraction >= 0 && c.DRAM.CacheFraction <= 1, "must be in [0, 1]"},
		{"dram.bytes", c.DRAM.Bytes, isPow2(c.DRAM.Bytes), "must be a power of two"},
		{"net.bytes_per_cycle", c.Net.BytesPerCycle, c.Net.BytesPerCycle >= 4 && c.Net.BytesPerCycle <= 256, "must be 4..256"},
		{"vector.element_bits", c.Vector.ElementBits, c.Vector.ElementBits == 8 || c.Vector.ElementBits == 16 || c.Vector.ElementBits == 32 || c.Vector.ElementBits == 64, "must be 8, 16, 32 or 64"},
		{"atomic.scalar_bits", c.Atomic.ScalarBits, c.Atomic.ScalarBits >= 1 && c.Atomic.ScalarBits <= 64, "must be 1..64 (λs are evaluated on expr's 64-bit integers)"},
		{"atomic.lambdas", len(c.Atomic.Lambdas), len(c.Atomic.Lambdas) >= 1 && len(c.Atomic.Lambdas) <= MaxLambdas, fmt.Sprintf("must register 1..%d λ functions", MaxLambdas)},
	}
	for i, cl := range c.Slab.Classes {
		key := fmt.Sprintf("slab.classes[%d]", i)
		if !isPow2(int64(cl)) || cl < c.Memory.PointerUnit {
			rules = append(rules, rule{key, cl, false, fmt.Sprintf("must be a power of two, at least memory.pointer_unit (%d)", c.Memory.PointerUnit)})
		}
		if i > 0 && cl <= c.Slab.Classes[i-1] {
			rules = append(rules, rule{key, cl, false, "classes must be in increasing order"})
		}
	}
	lambdaNames := map[string]int{}
	for i, l := range c.Atomic.Lambdas {
		key := fmt.Sprintf("atomic.lambdas[%d]", i)
		if !isIdent(l.Name) || len(l.Name) > 32 {
			rules = append(rules, rule{key + ".name", fmt.Sprintf("%q", l.Name), false, "must be an identifier of 1..32 letters, digits and _, not starting with a digit"})
		}
		if j, dup := lambdaNames[l.Name]; dup {
			rules = append(rules, rule{key + ".name", l.Name, false, fmt.Sprintf("is already the name of atomic.lambdas[%d]", j)})
		}
		lambdaNames[l.Name] = i
		if strings.TrimSpace(l.Expr) == "" {
			rules = append(rules, rule{key + ".expr", fmt.Sprintf("%q", l.Expr), false, "must be an expression"})
		}
	}
	if n := len(c.Slab.Classes); n > 0 {
		rules = append(rules, rule{"slab.classes", c.Slab.Classes, c.Slab.Classes[n-1] >= 64, "need a class of at least 64 B (chained buckets)"})
		largest := c.Slab.Classes[n-1]
		rules = append(rules, rule{"key.max_value_bytes", c.Key.MaxValueBytes, 2+c.Key.MaxKeyBytes+c.Key.MaxValueBytes <= largest,
			fmt.Sprintf("header + max key + max value must fit the largest slab (%d B)", largest)})
	}
	for _, r := range rules {
		if !r.ok {
			return fmt.Errorf("%s = %v: %s", r.key, r.val, r.why)
		}
	}
	return nil
}

// BucketBits is the bit count of the bucket layout (reference §2 table).
func (c Config) BucketBits() int {
	b := c.Bucket
	return b.Slots*b.SlotBytes*8 + b.Slots*b.SlabTypeBits + b.Slots*b.SlotBytes + b.PointerBits + 1
}

// Host memory map (docs/microarch.md §1.6).

// IndexBytes is the size of the hash index at host address 0.
func (c Config) IndexBytes() int64 { return c.Memory.IndexBuckets * 64 }

// MaxSlabClasses is how many classes the slab control area has room for.
const MaxSlabClasses = 8

// SlabCtrlBase is the first slab control line: 128 B per class, the NIC-owned
// 64 B line first, then the host-owned one.
func (c Config) SlabCtrlBase() int64 { return c.IndexBytes() }

// SlabRingBase is the first slab ring: per class a refill ring then a flush
// ring, each host_ring_entries 4-byte entries.
func (c Config) SlabRingBase() int64 { return c.SlabCtrlBase() + MaxSlabClasses*128 }

// HeapBase is the start of the slab heap, aligned to 4 KiB.
func (c Config) HeapBase() int64 {
	end := c.SlabRingBase() + MaxSlabClasses*2*int64(c.Slab.HostRing)*4
	return (end + 4095) &^ 4095
}

// BucketIndexBits is the width of a bucket index.
func (c Config) BucketIndexBits() int { return bits.Len64(uint64(c.Memory.IndexBuckets)) - 1 }

// RSSlotBits is the width of a reservation-station slot index.
func (c Config) RSSlotBits() int { return bits.Len(uint(c.RS.Slots)) - 1 }

// KeyLenBits is the width of a key-length field (0..MaxKeyBytes).
func (c Config) KeyLenBits() int { return bits.Len(uint(c.Key.MaxKeyBytes)) }

// NsToCycles converts a duration at the configured clock, rounding up.
func (c Config) NsToCycles(ns int) int {
	cyc := float64(ns) * c.ClockMHz / 1000
	n := int(cyc)
	if float64(n) < cyc {
		n++
	}
	return n
}

func isPow2(v int64) bool { return v > 0 && v&(v-1) == 0 }

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}
