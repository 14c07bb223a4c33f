package glue

import (
	"testing"
)

// Stimulus the contract rules out is refused, naming the port and the
// value, and a refused Step changes nothing.
func TestRefusals(t *testing.T) {
	const M = 64
	cases := []struct {
		name  string
		setup func(d *driver)
		bad   func(d *driver)
		frags []string
	}{
		{"iss_tag ≥ M", nil, func(d *driver) { d.issue(M, opGet, 0, []byte("k"), nil) }, []string{"iss_tag = 64"}},
		{"iss_tag ≥ M, not ready", func(d *driver) {
			for i := 0; i < DA; i++ {
				d.issue(i, opGet, 0, []byte("k"), nil)
				d.step()
			}
		}, func(d *driver) { d.issue(70, opGet, 0, []byte("k"), nil) }, []string{"iss_tag = 70"}},
		{"tag in flight", func(d *driver) { d.issue(3, opGet, 0, []byte("k"), nil); d.step() },
			func(d *driver) { d.issue(3, opGet, 0, []byte("k"), nil) }, []string{"iss_tag = 3", "hashing"}},
		{"key byte past klen", nil, func(d *driver) {
			d.issue(3, opGet, 0, []byte("k"), nil)
			d.setBytes("iss_key", []byte("kk"))
		}, []string{"iss_key byte 1", "iss_klen = 1"}},
		{"value byte past vlen", nil, func(d *driver) {
			d.issue(3, opPut, 0, []byte("k"), pattern(20, 1))
			d.set("iss_vlen", 12)
		}, []string{"iss_value byte 12", "iss_vlen = 12"}},
		{"hash of a tag never issued", nil, func(d *driver) { d.hashed(7, 0, 0, 0) }, []string{"kh_out_tag = 7", "free"}},
		{"hash of a tag ≥ M", nil, func(d *driver) { d.hashed(100, 0, 0, 0) }, []string{"kh_out_tag = 100"}},
		{"hash twice", func(d *driver) {
			d.issue(3, opGet, 0, []byte("k"), nil)
			d.step()
			d.hashed(3, 0, 0, 0)
			d.step()
		}, func(d *driver) { d.hashed(3, 0, 0, 0) }, []string{"kh_out_tag = 3", "in AF"}},
		{"pipe id ≥ M+R", nil, func(d *driver) { d.pipe(pipeRec{id: 400, key: []byte("k")}) }, []string{"rs_pipe_id = 400"}},
		{"pipe id in EF", func(d *driver) { d.pipe(pipeRec{id: M + 1, key: []byte("k")}); d.step() },
			func(d *driver) { d.pipe(pipeRec{id: M + 1, key: []byte("k")}) }, []string{"rs_pipe_id = 65", "in EF"}},
		{"pipe tag ≥ M", nil, func(d *driver) { d.pipe(pipeRec{id: 1, tag: 99, key: []byte("k")}) }, []string{"rs_pipe_tag = 99"}},
		{"pipe tag not at the station", func(d *driver) {
			d.issue(3, opGet, 0, []byte("k"), nil)
			d.step()
			d.hashed(3, 0, 0, 0)
			d.step()
		}, func(d *driver) { d.pipe(pipeRec{id: 1, tag: 3, key: []byte("k")}) }, []string{"rs_pipe_tag = 3", "in AF"}},
		{"engine answer for an id never sent", nil, func(d *driver) { d.engineRsp(12, 0, nil) }, []string{"ht_rsp_tag = 12", "free"}},
		{"engine answer for an id ≥ M+R", nil, func(d *driver) { d.engineRsp(1000, 0, nil) }, []string{"ht_rsp_tag = 1000"}},
		{"engine answer for an id still in EF", func(d *driver) { d.pipe(pipeRec{id: M + 1, key: []byte("k")}); d.step() },
			func(d *driver) { d.engineRsp(M+1, 0, nil) }, []string{"ht_rsp_tag = 65", "in EF"}},
		{"engine answer twice", func(d *driver) {
			d.pipe(pipeRec{id: M + 1, key: []byte("k")})
			d.step()
			d.set("ht_req_ready", 1)
			d.step()
			d.engineRsp(M+1, 0, nil)
			d.step()
		}, func(d *driver) { d.engineRsp(M+1, 0, nil) }, []string{"ht_rsp_tag = 65", "free"}},
		{"station response for a tag not sent", nil, func(d *driver) { d.stationResp(5, 0, 0, nil) }, []string{"rs_resp_tag = 5", "free"}},
		{"station response for a tag ≥ M", nil, func(d *driver) { d.stationResp(M, 0, 0, nil) }, []string{"rs_resp_tag = 64"}},
		{"long station response without an engine value", func(d *driver) { d.toStation(5, opGet, []byte("k"), nil) },
			func(d *driver) { d.stationResp(5, 0, 20, pattern(8, 1)) }, []string{"rs_resp_vlen = 20", "tag 5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDriver(t, preset(t, "sim"))
			if c.setup != nil {
				c.setup(d)
			}
			before := d.m.DescribeState()
			c.bad(d)
			d.wantErr(c.frags...)
			if got := d.m.DescribeState(); got != before {
				t.Fatalf("a refused Step changed the state:\n%s\n%s", before, got)
			}
		})
	}
}

// Readies raised with nothing offered are no transfer and no error, and
// change nothing.
func TestIdleReadies(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	before := d.m.DescribeState()
	for range 5 {
		d.set("rs_req_ready", 1)
		d.set("ht_req_ready", 1)
		d.step()
	}
	if d.m.DescribeState() != before || d.m.Credits() != DA {
		t.Fatalf("idle readies changed the state: %s", d.m.DescribeState())
	}
	// iss_* data without iss_valid is ignored, whatever it holds.
	d.issue(3, opGet, 0, []byte("k"), nil)
	d.set("iss_valid", 0)
	d.set("iss_tag", 999)
	d.step()
	if d.m.Credits() != DA || d.peek("kh_in_valid") != 0 {
		t.Fatal("an issue without iss_valid")
	}
}

// Reset: control state as §4.3 says (credits DA, everything else empty),
// bookkeeping cleared.
func TestReset(t *testing.T) {
	d := newDriver(t, preset(t, "sim"))
	d.toStation(5, opGet, []byte("k"), nil)
	d.issue(6, opGet, 0, []byte("k"), nil)
	d.step()
	d.pipe(pipeRec{id: 1, tag: 5, key: []byte("k")})
	d.step()
	d.m.Reset()
	if d.peek("iss_ready") != 1 || d.peek("kh_in_valid") != 0 || d.peek("rs_req_valid") != 0 ||
		d.peek("rs_pipe_ready") != 1 || d.peek("ht_req_valid") != 0 || d.peek("rs_cpl_valid") != 0 ||
		d.peek("cpl_valid") != 0 || d.m.Credits() != DA {
		t.Fatalf("after reset: %s", d.m.DescribeState())
	}
	d.issue(5, opGet, 0, []byte("k"), nil) // tag 5 is free again
	d.step()
}
