package glue

import (
	"strings"
	"testing"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/htengine"
	"github.com/kvdirect/kvd/golden/keyhash"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/rob"
	"github.com/kvdirect/kvd/golden/rs"
)

// §4.1's table, paper [sim].
func TestSizes(t *testing.T) {
	for _, c := range []struct {
		preset string
		want   Params
	}{
		{"paper", Params{T: 1024, M: 256, R: 1024, S: 10, I: 11, K: 32, KL: 6, V: 478, VL: 9, W: 64, E: 32, N: 7, F: 3, BI: 28, H: 9, A: 37}},
		{"sim", Params{T: 64, M: 64, R: 256, S: 8, I: 9, K: 16, KL: 5, V: 478, VL: 9, W: 64, E: 32, N: 7, F: 3, BI: 14, H: 9, A: 23}},
	} {
		if got := ParamsOf(preset(t, c.preset)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.preset, got, c.want)
		}
	}
	if got := ParamsOf(narrow(t)); got.W != 32 || got.E != 16 || got.N != 3 || got.F != 2 {
		t.Errorf("narrow: %+v", got)
	}
}

// The ports: §4.2's names in order, and every group the mirror of the
// neighbour it connects to (same widths, opposite directions, same order),
// taken from the neighbours' own golden models — so the top level's wiring
// checks (golden/top) cannot fail on the glue.
func TestPortsMirrorNeighbours(t *testing.T) {
	for _, cfg := range []config.Config{preset(t, "paper"), preset(t, "sim"), narrow(t)} {
		ports := Ports(cfg)
		if _, err := model.NewLayout(ports); err != nil {
			t.Fatal(err)
		}
		byName := map[string]model.Port{}
		var names []string
		for _, p := range ports {
			byName[p.Name] = p
			names = append(names, p.Name)
		}
		// mirror checks that every neighbour port matched by keep, renamed,
		// is a glue port of opposite direction and equal width, in the
		// neighbour's order, and returns the glue names in that order.
		mirror := func(what string, nb []model.Port, keep func(string) (string, bool)) []string {
			var got []string
			for _, q := range nb {
				name, ok := keep(q.Name)
				if !ok {
					continue
				}
				p, ok := byName[name]
				if !ok {
					t.Errorf("%s: %s has %s; the glue has no %s", cfg.Name, what, q.Name, name)
					continue
				}
				if p.Dir == q.Dir || p.Width != q.Width {
					t.Errorf("%s: glue %s (%v, %d bits) against %s's %s (%v, %d bits)", cfg.Name, name, p.Dir, p.Width, what, q.Name, q.Dir, q.Width)
				}
				got = append(got, name)
			}
			return got
		}
		prefix := func(pre string, add string) func(string) (string, bool) {
			return func(n string) (string, bool) {
				if strings.HasPrefix(n, pre) {
					return add + n, true
				}
				return "", false
			}
		}
		swap := func(from, to string) func(string) (string, bool) {
			return func(n string) (string, bool) {
				if x, ok := strings.CutPrefix(n, from); ok {
					return to + x, true
				}
				return "", false
			}
		}
		var order []string
		robPorts := rob.Ports(cfg)
		order = append(order, mirror("kvd_rob", robPorts, prefix("iss_", ""))...)
		order = append(order, mirror("kvd_rob", robPorts, prefix("cpl_", ""))...)
		kh := keyhash.Ports(cfg)
		order = append(order, mirror("kvd_keyhash", kh, swap("in_", "kh_in_"))...)
		order = append(order, mirror("kvd_keyhash", kh, swap("out_", "kh_out_"))...)
		rsp := rs.Ports(cfg)
		for _, g := range []string{"req_", "pipe_", "cpl_", "resp_"} {
			order = append(order, mirror("kvd_rs", rsp, prefix(g, "rs_"))...)
		}
		ht := htengine.Ports(cfg)
		order = append(order, mirror("kvd_ht", ht, swap("req_", "ht_req_"))...)
		order = append(order, mirror("kvd_ht", ht, swap("rsp_", "ht_rsp_"))...)
		if strings.Join(order, " ") != strings.Join(names, " ") {
			t.Errorf("%s: port order\n got %v\nwant %v", cfg.Name, names, order)
		}
		// Qualification, §4.2.
		for _, p := range ports {
			want := ""
			if p.Dir == model.Out {
				switch {
				case strings.HasPrefix(p.Name, "cpl_") && p.Name != "cpl_valid":
					want = "cpl_valid"
				case strings.HasPrefix(p.Name, "kh_in_") && p.Name != "kh_in_valid":
					want = "kh_in_valid"
				case strings.HasPrefix(p.Name, "rs_req_") && p.Name != "rs_req_valid":
					want = "rs_req_valid"
				case strings.HasPrefix(p.Name, "rs_cpl_") && p.Name != "rs_cpl_valid":
					want = "rs_cpl_valid"
				case strings.HasPrefix(p.Name, "ht_req_") && p.Name != "ht_req_valid":
					want = "ht_req_valid"
				}
			}
			if p.QualifiedBy != want {
				t.Errorf("%s: %s qualified by %q, want %q", cfg.Name, p.Name, p.QualifiedBy, want)
			}
		}
	}
}

// A few widths spelled out, so that a neighbour's mistake cannot hide one
// of ours (paper: §4.1's numbers).
func TestPortWidthsPaper(t *testing.T) {
	want := map[string]int{
		"iss_tag": 16, "iss_fid": 8, "iss_klen": 6, "iss_key": 256, "iss_vlen": 9, "iss_value": 3824,
		"cpl_status": 8, "cpl_value": 3824, "kh_in_len": 6, "kh_out_bucket": 28, "kh_out_sec": 9,
		"kh_out_slot": 10, "rs_req_fid": 3, "rs_req_value": 64, "rs_req_aux": 37, "rs_req_delta": 64,
		"rs_pipe_id": 11, "rs_cpl_id": 11, "rs_cpl_status": 4, "rs_resp_status": 4,
		"ht_req_tag": 16, "ht_req_value": 3824, "ht_req_delta": 32, "ht_req_fid": 3, "ht_rsp_value": 3824,
	}
	got := map[string]int{}
	for _, p := range Ports(preset(t, "paper")) {
		got[p.Name] = p.Width
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: %d bits, want %d", n, got[n], w)
		}
	}
	if n := len(got); n != 9+5+4+5+14+14+5+5+14+5 {
		t.Errorf("%d ports", n)
	}
}

func TestNewRefusesWideElements(t *testing.T) {
	cfg := preset(t, "sim")
	cfg.Atomic.ScalarBits = 16
	cfg.Vector.ElementBits = 32
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "element_bits") {
		t.Fatalf("E > W accepted: %v", err)
	}
}
