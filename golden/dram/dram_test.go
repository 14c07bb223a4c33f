package dram

import (
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
)

func TestConfigFrom(t *testing.T) {
	c, _ := config.Preset("paper")
	d := ConfigFrom(c, 1<<26, 6)
	// 200 ns at 180 MHz; 12.8 GB/s is 71.1 B per cycle, a line 0.9 cycles.
	if d.Latency != 36 || d.LineCost != 922 {
		t.Errorf("latency %d cost %d, want 36 922", d.Latency, d.LineCost)
	}
}

// Reads return in request order after exactly Latency cycles, seeing every
// write accepted before them; lines start invalid (all zero).
func TestReadsInOrder(t *testing.T) {
	d := New(Config{Lines: 1024, MetaBits: 6, Latency: 10, LineCost: 922})
	var w Line
	w.Data[7], w.Meta = 0x1234, 0x2b
	reqs := []Req{
		{Valid: true, Addr: 5},
		{Valid: true, Write: true, Addr: 5, Data: w.Data, Meta: w.Meta},
		{Valid: true, Addr: 5},
		{Valid: true, Addr: 6},
	}
	var got []Out
	var at []int
	for c := 0; c < 30; c++ {
		o := d.Out()
		if o.RspValid {
			got, at = append(got, o), append(at, c)
		}
		var r Req
		if c < len(reqs) {
			if !o.ReqReady {
				t.Fatalf("cycle %d: not ready", c)
			}
			r = reqs[c]
		}
		if err := d.Tick(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || at[0] != 10 || at[1] != 12 || at[2] != 13 {
		t.Fatalf("responses at %v", at)
	}
	if got[0].RspMeta != 0 || got[1].RspMeta != 0x2b || got[1].RspData[7] != 0x1234 || got[2].RspMeta != 0 {
		t.Errorf("responses %+v", got)
	}
	if d.Reads != 3 || d.Writes != 1 || !d.Idle() {
		t.Errorf("reads %d writes %d idle %v", d.Reads, d.Writes, d.Idle())
	}
}

func TestBandwidthAndErrors(t *testing.T) {
	// A line every 1.5 cycles: ready two cycles in three.
	d := New(Config{Lines: 16, MetaBits: 2, Latency: 4, LineCost: 1536})
	ready := 0
	for c := 0; c < 300; c++ {
		o := d.Out()
		if o.ReqReady {
			ready++
		}
		if err := d.Tick(Req{Valid: true, Write: true, Addr: uint64(c % 16)}); err != nil {
			t.Fatal(err)
		}
	}
	if ready < 195 || ready > 205 {
		t.Errorf("ready %d cycles of 300, want 200", ready)
	}
	d = New(Config{Lines: 16, MetaBits: 2, Latency: 4, LineCost: 100})
	if err := d.Tick(Req{Valid: true, Addr: 16}); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("got %v", err)
	}
	if err := d.Tick(Req{Valid: true, Write: true, Meta: 4}); err == nil || !strings.Contains(err.Error(), "wider") {
		t.Errorf("got %v", err)
	}
}
