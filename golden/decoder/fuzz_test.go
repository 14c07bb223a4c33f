package decoder

import (
	"bytes"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/wire"
)

// FuzzDecoder (issue 8) feeds arbitrary bytes to the model as one frame,
// or as two when split falls inside them, followed by wire-format.md §8's
// worked example. timing picks the beat gaps (bits 32–62, one per cycle,
// cyclic; all ones means none), d_ready (bits 0–31, cyclic; all zero
// means always ready) and the configuration (bit 63: narrow, else sim).
// The model must never fail, must answer every frame as
// wire.DecodeRequest does, and must be back in HDR after each frame: the
// worked example is then decoded right.
func FuzzDecoder(f *testing.F) {
	lengthMismatch := bytes.Clone(workedExample)
	lengthMismatch[4] = 0x3c
	firstFlags := bytes.Clone(workedExample)
	firstFlags[12] |= 0x80
	truncated := bytes.Clone(workedExample[:40])
	truncated[4] = 40
	badMagic := bytes.Clone(workedExample)
	badMagic[1] = 0x57
	manyOps := bytes.Clone(workedExample[:12])
	manyOps[4], manyOps[6], manyOps[7] = 12, 0xff, 0x00
	for _, s := range []struct {
		frame  []byte
		split  uint16
		timing uint64
	}{
		{workedExample, 0, 0},
		{workedExample, 29, 0x0000_0005_aaaa_aaaa},
		{lengthMismatch, 0, 1 << 63},
		{firstFlags, 0, 0x0f0f_0f0f},
		{truncated, 13, 0x8000_0003_0000_0001},
		{badMagic, 0, 0},
		{manyOps, 0, 0x1234_5678_9abc_def0},
		{[]byte{0x4b}, 0, 0},
		{workedExample[:12], 6, 0},
		{append(bytes.Clone(workedExample), 1, 2, 3), 0, 0},
	} {
		f.Add(s.frame, s.split, s.timing)
	}
	sim, err := config.Preset("sim")
	if err != nil {
		f.Fatal(err)
	}
	narrowCfg := narrow(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint16, timing uint64) {
		if len(data) == 0 || len(data) > wire.MaxPacketBytes {
			t.Skip()
		}
		cfg := sim
		if timing>>63 != 0 {
			cfg = narrowCfg
		}
		b := newBench(t, cfg)
		gaps := uint32(timing>>32) & 0x7fff_ffff
		if gaps == 0x7fff_ffff {
			gaps = 0 // a source that never sends is no test
		}
		ready := uint32(timing)
		b.gap = func(c int) bool { return gaps>>(c%31)&1 != 0 }
		b.ready = func(c int) bool { return ready == 0 || ready>>(c%32)&1 != 0 }
		if s := int(split); s > 0 && s < len(data) {
			b.add(data[:s], "frame 0")
			b.add(data[s:], "frame 1")
		} else {
			b.add(data, "frame")
		}
		b.add(workedExample, "the worked example")
		// Each cycle of a stall (a gap, d_ready low) is at most 31 long;
		// a frame costs at most a cycle per byte and per operation.
		limit := 64 * (3*len(data) + 2*0xffff + 200)
		if err := b.run(limit); err != nil {
			t.Fatal(err)
		}
	})
}
