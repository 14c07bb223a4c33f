package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPresetsAreValid(t *testing.T) {
	for _, p := range Presets() {
		c, err := Preset(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	p, _ := Preset("paper")
	if p.BucketBits() != 512 {
		t.Errorf("paper bucket layout is %d bits, want the paper's 512", p.BucketBits())
	}
}

func TestSetKeepsEveryOtherValueExactly(t *testing.T) {
	c, _ := Preset("paper")
	before := c
	if err := c.Set("rs.slots=512"); err != nil {
		t.Fatal(err)
	}
	if c.RS.Slots != 512 {
		t.Fatalf("rs.slots = %d", c.RS.Slots)
	}
	c.RS.Slots = before.RS.Slots
	if c.Hash() != before.Hash() {
		t.Fatalf("--set changed other values: %s", c.JSON())
	}
	if c.KeyHash.Seed != before.KeyHash.Seed {
		t.Fatalf("64-bit seed lost precision: %x != %x", c.KeyHash.Seed, before.KeyHash.Seed)
	}
}

// rs.idle_cache is left out of the JSON when false, so that adding it kept
// every existing configuration's hash (and the committed RTL's header);
// --set must still reach it, and turning it on must change the hash.
func TestOmittedKeyCanBeSet(t *testing.T) {
	c, _ := Preset("paper")
	before := c.Hash()
	if strings.Contains(string(c.JSON()), "idle_cache") {
		t.Fatalf("idle_cache written when false:\n%s", c.JSON())
	}
	if err := c.Set("rs.idle_cache=true"); err != nil {
		t.Fatal(err)
	}
	if !c.RS.IdleCache || c.Hash() == before {
		t.Fatalf("idle_cache %v, hash %s (was %s)", c.RS.IdleCache, c.Hash(), before)
	}
	// It has no effect without forwarding (rs.md §11), and does not stop
	// a configuration from turning forwarding off.
	if err := c.Set("rs.forwarding=false"); err != nil {
		t.Fatalf("forwarding off with idle_cache on: %v", err)
	}
}

func TestSetList(t *testing.T) {
	c, _ := Preset("sim")
	if err := c.Set("slab.classes=32,64,128,256,512,1024"); err != nil {
		t.Fatal(err)
	}
	if len(c.Slab.Classes) != 6 || c.Slab.Classes[5] != 1024 {
		t.Fatalf("classes %v", c.Slab.Classes)
	}
}

// Each bad value is refused with one line naming the key, the value and the
// rule.
func TestRulesNameKeyValueAndRule(t *testing.T) {
	cases := []struct{ set, want string }{
		{"slab.classes=32,96", "slab.classes[1] = 96: must be a power of two"},
		{"bucket.inline_threshold=51", "bucket.inline_threshold = 51: must be at most the slot bytes, 50"},
		{"memory.host_bytes=137438953472", "memory.host_bytes = 137438953472: bucket.pointer_bits=31"},
		{"rs.slots=1000", "rs.slots = 1000: must be a power of two"},
		{"engine.contexts=257", "engine.contexts = 257: must be 2..256"},
		{"key.max_key_bytes=0", "key.max_key_bytes = 0"},
		{"nope=1", "unknown key"},
		{"rs.slots=x", "want a value of type int"},
		{"rs=1", "is a group of keys"},
		{"rs.idle_cache=1", "want a value of type bool"},
		{"rs.nope=true", "unknown key"},
	}
	for _, tc := range cases {
		c, _ := Preset("paper")
		err := c.Set(tc.set)
		if err == nil {
			t.Errorf("--set %s accepted", tc.set)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--set %s: %q does not say %q on one line", tc.set, err, tc.want)
		}
	}
}

func TestLoadFileWithBase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.json")
	os.WriteFile(path, []byte(`{"base": "paper", "rs": {"slots": 2048, "max_inflight": 256, "forwarding": false}}`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.RS.Slots != 2048 || c.RS.Forwarding || c.Memory.HostBytes != 64<<30 {
		t.Fatalf("loaded %+v", c.RS)
	}
	os.WriteFile(path, []byte(`{"rs": {"slotz": 1}}`), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "slotz") {
		t.Fatalf("unknown key in file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := Load("nopreset"); err == nil || !strings.Contains(err.Error(), "not a preset") {
		t.Fatalf("unknown preset: %v", err)
	}
}

func TestDerivedWidths(t *testing.T) {
	c, _ := Preset("sim")
	if c.BucketIndexBits() != 14 || c.RSSlotBits() != 8 || c.KeyLenBits() != 5 {
		t.Fatalf("bits %d %d %d", c.BucketIndexBits(), c.RSSlotBits(), c.KeyLenBits())
	}
	if c.NsToCycles(1000) != 180 {
		t.Fatalf("1 µs at 180 MHz = %d cycles", c.NsToCycles(1000))
	}
}
