// Package front generates kvd_front, the processor's packet front end
// (docs/microarch/processor.md §3): the packet decoder, the reorder buffer
// and the response encoder wired together, with the reorder buffer's
// pipeline port brought out. Wiring only: every register lives in the
// three blocks.
package front

import (
	"fmt"
	"strings"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/hdlgen/decoder"
	"github.com/kvdirect/kvd/hdlgen/encoder"
	"github.com/kvdirect/kvd/hdlgen/ir"
	"github.com/kvdirect/kvd/hdlgen/rob"
)

// Name is the generated module's name.
const Name = "kvd_front"

// Generate returns kvd_front for cfg.
func Generate(cfg config.Config) (*ir.Module, error) {
	dec, err := decoder.Generate(cfg)
	if err != nil {
		return nil, err
	}
	buf, err := rob.Generate(cfg)
	if err != nil {
		return nil, err
	}
	enc, err := encoder.Generate(cfg)
	if err != nil {
		return nil, err
	}
	m := ir.NewModule(Name)
	m.Doc = ir.Doc{
		Title: "Packet front end: request frames in, response frames out, operations to and from the pipeline",
		Purpose: []string{
			"docs/microarch/processor.md 3. u_dec (kvd_dec, decoder.md) parses request",
			"frames into one record per operation or refused packet; u_rob (kvd_rob,",
			"rob.md) issues the operations to the pipeline, tagged with their entry, and",
			"hands the records back in the decoder's order once answered; u_enc",
			"(kvd_enc, encoder.md) frames them into response packets. No logic here.",
		},
		Protocol: []string{
			"rx_*: AXI-Stream request frames, store-and-forward (rx_len on every beat);",
			"tx_*: AXI-Stream response frames. iss_*: valid/ready, an operation and its",
			"16-bit tag; cpl_*: the pipeline's completion, no back-pressure, at least one",
			"cycle after the issue, exactly once per tag. Every output depends on the",
			"blocks' state only: no combinational path from an input to an output.",
		},
		Latency: []string{
			"The sum of decoder.md 5, rob.md 5 and encoder.md 5: the wiring adds no cycle.",
		},
	}
	clk := m.Clock("clk")
	rst := m.Reset("rst")
	conns := map[*ir.Module][]ir.Conn{}
	for _, sub := range []*ir.Module{dec, buf, enc} {
		conns[sub] = []ir.Conn{{Port: "clk", Expr: clk}, {Port: "rst", Expr: rst}}
	}
	// The outside ports, in §3's order: the sub-blocks' own, by prefix.
	for _, x := range []struct {
		sub    *ir.Module
		prefix string
		group  string
	}{
		{dec, "rx_", "Request frames (AXI-Stream, store-and-forward)"},
		{buf, "iss_", "Operations to the pipeline"},
		{buf, "cpl_", "Completions from the pipeline"},
		{enc, "tx_", "Response frames (AXI-Stream)"},
	} {
		for _, p := range x.sub.Ports {
			if p.Role != ir.Data || !strings.HasPrefix(p.Sig.Name, x.prefix) {
				continue
			}
			var s *ir.Signal
			if p.Dir == ir.In {
				s = m.Input(x.group, p.Sig.Name, p.Sig.W)
			} else {
				s = m.Output(x.group, p.Sig.Name, p.Sig.W)
			}
			conns[x.sub] = append(conns[x.sub], ir.Conn{Port: p.Sig.Name, Expr: s})
		}
	}
	// Inside: every d_* of the decoder to the buffer (d_index has no
	// partner: the encoder counts records itself), every e_* of the buffer
	// to the encoder; the readies back.
	link := func(from, to *ir.Module, prefix, back string) error {
		for _, p := range from.Ports {
			name := p.Sig.Name
			if p.Role != ir.Data || !strings.HasPrefix(name, prefix) {
				continue
			}
			w := m.Wire(strings.TrimSuffix(prefix, "_")+"_"+strings.TrimPrefix(name, prefix)+"_w", p.Sig.W)
			conns[from] = append(conns[from], ir.Conn{Port: name, Expr: w})
			if name == back {
				continue // driven by to, read by from: below
			}
			tp := portNamed(to, name)
			if tp == nil {
				m.MarkUnused(w)
				w.Comment = fmt.Sprintf("%s's %s has no partner in %s", from.Name, name, to.Name)
				continue
			}
			if tp.Sig.W != p.Sig.W {
				return fmt.Errorf("%s: %s.%s is %d bits, %s.%s %d", Name, from.Name, name, p.Sig.W, to.Name, name, tp.Sig.W)
			}
			conns[to] = append(conns[to], ir.Conn{Port: name, Expr: w})
		}
		return nil
	}
	if err := link(dec, buf, "d_", "d_ready"); err != nil {
		return nil, err
	}
	if err := link(buf, enc, "e_", "e_ready"); err != nil {
		return nil, err
	}
	// The readies flow the other way: the buffer drives the decoder's
	// d_ready, the encoder the buffer's e_ready.
	fix := func(drv, rd *ir.Module, name string) {
		for _, c := range conns[rd] {
			if c.Port == name {
				conns[drv] = append(conns[drv], ir.Conn{Port: name, Expr: c.Expr})
				return
			}
		}
	}
	fix(buf, dec, "d_ready")
	fix(enc, buf, "e_ready")
	m.Instantiate("u_dec", dec, nil, conns[dec])
	m.Instantiate("u_rob", buf, nil, conns[buf])
	m.Instantiate("u_enc", enc, nil, conns[enc])
	if err := m.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func portNamed(m *ir.Module, name string) *ir.Port {
	for _, p := range m.Ports {
		if p.Sig.Name == name {
			return p
		}
	}
	return nil
}
