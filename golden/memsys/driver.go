package memsys

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvdirect/kvd/config"
	"github.com/kvdirect/kvd/golden/dram"
	"github.com/kvdirect/kvd/golden/hostmem"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/golden/pcie"
)

// Op is one client request: a read of Beats beats, or a write of Beats
// beats sent one beat per transfer (docs/microarch.md §1.7).
type Op struct {
	Write bool
	Addr  uint64
	Beats int
}

// Gen produces client c's next request; ok = false leaves the client idle
// this cycle.
type Gen func(c int, rng *rand.Rand) (op Op, ok bool)

// ErrBeat is a read beat delivered with mem_rdata_err. A wide client's
// error transfer (docs/microarch.md §1.7: either of its beats failed)
// gives one ErrBeat for each beat it carries.
type ErrBeat struct {
	Client int
	Addr   uint64 // the beat's host address
	Cycle  uint64
}

type expBeat struct {
	addr uint64
	last bool
	data [4]uint64
}

type drvClient struct {
	next    Op
	hasNext bool
	rd      Op
	rdOn    bool
	wr      Op
	wrOn    bool
	wrK     int
	wrBeat  [4]uint64 // the beat on mem_wr_data, held until accepted
	wrHas   bool
	exp     []expBeat // ring
	eHead   int
	eN      int
	reads   uint64 // requests accepted
	done    uint64 // requests whose last beat was delivered
}

// Driver runs the memory-system model against the host-side models
// (golden/pcie, golden/dram) with client traffic from a generator, and
// checks every read beat against a shadow of host memory as each client
// sees it (its own writes applied in acceptance order). It is the harness
// of the tests and of the bench; a co-simulation testbench does the same
// around the RTL.
type Driver struct {
	P      Params
	M      *Model
	Links  []*pcie.Link
	DRAM   *dram.DRAM
	Host   *hostmem.Memory // what the links read and write
	Shadow *hostmem.Memory // the clients' view: the reference

	Gen       Gen
	ReadyProb []float64 // per client: probability that mem_rdata_ready is 1
	Check     bool      // compare read data with Shadow
	Errs      []ErrBeat
	Cycle     uint64
	// Observe, when set, is called every cycle after the model has
	// stepped, before the host-side models see its outputs.
	Observe func(d *Driver) error

	rng     *rand.Rand
	lay     *model.Layout
	in, out []uint64
	cl      []drvClient
	flushOn bool
	cur     []uint64 // scratch beat
}

// HostConfig is what NewDriver needs beyond Params: the timing of the
// host-side models.
type HostConfig struct {
	Link []pcie.Config
	DRAM dram.Config
}

// HostConfigFrom derives the host-side models' timing from cfg, each link
// with its own seed.
func HostConfigFrom(cfg config.Config, p Params, seed uint64) HostConfig {
	h := HostConfig{DRAM: dram.ConfigFrom(cfg, p.Lines(), p.MetaBits())}
	h.DRAM.Seed = seed ^ 0xd7
	for l := 0; l < p.Links; l++ {
		lc := pcie.ConfigFrom(cfg, seed*131+uint64(l)+1)
		lc.Tags = p.Tags
		lc.AddrBytes = 1 << uint(p.AddrBits)
		h.Link = append(h.Link, lc)
	}
	return h
}

// NewDriver builds the model, the host-side models over host (a fresh
// zeroed memory when nil) and the harness.
func NewDriver(p Params, hc HostConfig, host *hostmem.Memory, seed uint64) (*Driver, error) {
	m, err := New(p)
	if err != nil {
		return nil, err
	}
	if host == nil {
		host = hostmem.New(1 << uint(p.AddrBits))
	}
	d := &Driver{P: m.Params(), M: m, Host: host, Shadow: host.Clone(), Check: true,
		rng: rand.New(rand.NewPCG(seed, 0x6d656d)), DRAM: dram.New(hc.DRAM)}
	for l := 0; l < p.Links; l++ {
		d.Links = append(d.Links, pcie.New(hc.Link[l], host))
	}
	d.lay = model.MustLayout(m.Ports())
	d.in = make([]uint64, d.lay.InWords)
	d.out = make([]uint64, d.lay.OutWords)
	d.cl = make([]drvClient, len(p.Clients))
	for c := range d.cl {
		d.cl[c].exp = make([]expBeat, p.RBBeats+2*MaxBeats)
	}
	d.ReadyProb = make([]float64, len(p.Clients))
	for c := range d.ReadyProb {
		d.ReadyProb[c] = 1
	}
	d.cur = make([]uint64, 4)
	return d, nil
}

func (d *Driver) set(off int, v uint64) { d.in[off] = v }

// Outstanding is the number of read requests client c has had accepted and
// not yet fully received.
func (d *Driver) Outstanding(c int) uint64 { return d.cl[c].reads - d.cl[c].done }

// Done is the number of read requests client c has fully received.
func (d *Driver) Done(c int) uint64 { return d.cl[c].done }

// Busy reports that some client still has a request to send or a read to
// receive.
func (d *Driver) Busy() bool {
	for c := range d.cl {
		k := &d.cl[c]
		if k.hasNext || k.rdOn || k.wrOn || k.reads != k.done {
			return true
		}
	}
	return false
}

// Step runs one cycle.
func (d *Driver) Step() error {
	m := d.M
	for l, k := range d.Links {
		o, lo := k.Out(), &m.lo[l]
		d.set(lo.reqReady, b2u(o.ReqReady))
		d.set(lo.cplValid, b2u(o.CplValid))
		d.set(lo.cplTag, uint64(o.CplTag))
		copy(d.in[lo.cplData:lo.cplData+4], o.CplData[:])
		d.set(lo.cplLast, b2u(o.CplLast))
		d.set(lo.cplErr, b2u(o.CplErr))
	}
	do := d.DRAM.Out()
	d.set(m.dReqReady, b2u(do.ReqReady))
	d.set(m.dRspValid, b2u(do.RspValid))
	copy(d.in[m.dRspData:m.dRspData+8], do.RspData[:])
	d.set(m.dRspMeta, do.RspMeta)
	d.set(m.fValid, b2u(d.flushOn))

	for c := range d.cl {
		k, co := &d.cl[c], &m.co[c]
		if !k.hasNext && d.Gen != nil {
			k.next, k.hasNext = d.Gen(c, d.rng)
		}
		if k.hasNext {
			if k.next.Write && !k.wrOn {
				k.wr, k.wrOn, k.wrK, k.hasNext = k.next, true, 0, false
			} else if !k.next.Write && !k.rdOn {
				k.rd, k.rdOn, k.hasNext = k.next, true, false
			}
		}
		d.set(co.rdValid, b2u(k.rdOn))
		d.set(co.rdAddr, k.rd.Addr)
		d.set(co.rdBeats, uint64(k.rd.Beats))
		d.set(co.wrValid, b2u(k.wrOn))
		d.set(co.wrAddr, k.wr.Addr+uint64(BeatBytes*k.wrK))
		if k.wrOn && !k.wrHas {
			d.wrData(k.wr.Addr+uint64(BeatBytes*k.wrK), k.wrBeat[:])
			k.wrHas = true
		}
		copy(d.in[co.wrData:co.wrData+4], k.wrBeat[:])
		p := d.ReadyProb[c]
		d.set(co.rdataReady, b2u(p >= 1 || d.rng.Float64() < p))
	}

	if err := m.Step(d.in, d.out); err != nil {
		return fmt.Errorf("cycle %d: %v", d.Cycle, err)
	}

	for c := range d.cl {
		k, co := &d.cl[c], &m.co[c]
		if k.wrOn && d.out[co.wrReady] != 0 {
			d.Shadow.WriteBeat(int64(k.wr.Addr)+int64(BeatBytes*k.wrK), [4]uint64(d.in[co.wrData:co.wrData+4]))
			k.wrK++
			k.wrHas = false
			if k.wrK == k.wr.Beats {
				k.wrOn = false
			}
		}
		if k.rdOn && d.out[co.rdReady] != 0 {
			for i := 0; i < k.rd.Beats; i++ {
				if k.eN == len(k.exp) {
					return fmt.Errorf("cycle %d: client %d: more beats outstanding than the harness holds", d.Cycle, c)
				}
				e := &k.exp[(k.eHead+k.eN)%len(k.exp)]
				e.addr = k.rd.Addr + uint64(BeatBytes*i)
				e.last = i == k.rd.Beats-1
				if d.Check {
					e.data = d.Shadow.ReadBeat(int64(e.addr))
				}
				k.eN++
			}
			k.reads++
			k.rdOn = false
		}
		if d.out[co.rdataValid] != 0 && d.in[co.rdataReady] != 0 {
			if err := d.receive(c); err != nil {
				return fmt.Errorf("cycle %d: client %d: %v", d.Cycle, c, err)
			}
		}
	}
	if d.flushOn && d.out[m.fReady] != 0 {
		d.flushOn = false
	}
	if d.Observe != nil {
		if err := d.Observe(d); err != nil {
			return fmt.Errorf("cycle %d: %v", d.Cycle, err)
		}
	}

	for l, k := range d.Links {
		r, _ := d.LinkReq(l)
		if err := k.Tick(r); err != nil {
			return fmt.Errorf("cycle %d: link %d: %v", d.Cycle, l, err)
		}
	}
	var r dram.Req
	r.Valid = d.out[m.dReqValid] != 0
	r.Write = d.out[m.dReqWrite] != 0
	r.Addr = d.out[m.dReqAddr]
	copy(r.Data[:], d.out[m.dReqData:m.dReqData+8])
	r.Meta = d.out[m.dReqMeta]
	if err := d.DRAM.Tick(r); err != nil {
		return fmt.Errorf("cycle %d: %v", d.Cycle, err)
	}
	d.Cycle++
	return nil
}

// receive checks the read-data transfer client c takes this cycle against
// the beats it expects: one beat (narrow), or for a wide client
// (docs/microarch.md §1.7) beats 2k and 2k+1 of one request, beat 2k in
// bits 255..0, or a request's odd last beat alone with 256 zero bits above
// it. last must be on the request's final transfer; an error transfer
// carries data 0 (memory.md §2.1) and counts as an error beat for each beat.
func (d *Driver) receive(c int) error {
	k, co := &d.cl[c], &d.M.co[c]
	wide := d.P.Clients[c].Wide
	if k.eN == 0 {
		return fmt.Errorf("read data delivered with no read outstanding")
	}
	var e [2]*expBeat
	n := 1
	e[0] = &k.exp[k.eHead]
	if wide && !e[0].last {
		if k.eN < 2 {
			return fmt.Errorf("beat at %#x: its request's next beat is not outstanding", e[0].addr)
		}
		e[1] = &k.exp[(k.eHead+1)%len(k.exp)]
		n = 2
	}
	k.eHead = (k.eHead + n) % len(k.exp)
	k.eN -= n
	wantLast := e[n-1].last
	last, errBeat := d.out[co.rdataLast] != 0, d.out[co.rdataEr] != 0
	if last != wantLast {
		return fmt.Errorf("transfer of the beat at %#x: last = %v, want %v", e[0].addr, last, wantLast)
	}
	got := d.out[co.rdata : co.rdata+co.rdataWords]
	for h := 0; h < co.rdataWords/4; h++ {
		var want [4]uint64 // an error transfer's data, and above a lone beat: 0
		what := "data"
		switch {
		case errBeat:
			what = "error transfer: data"
		case h >= n:
			what = "one-beat transfer: upper half"
		case !d.Check:
			continue
		default:
			want = e[h].data
		}
		if [4]uint64(got[4*h:4*h+4]) != want {
			return fmt.Errorf("transfer of the beat at %#x: %s %#x, want %#x in bits %d..%d", e[0].addr, what,
				got[4*h:4*h+4], want, 256*h+255, 256*h)
		}
	}
	if errBeat {
		for i := 0; i < n; i++ {
			d.Errs = append(d.Errs, ErrBeat{Client: c, Addr: e[i].addr, Cycle: d.Cycle})
		}
	}
	if last {
		k.done++
	}
	return nil
}

// wrData is the data the harness writes at addr: a function of the address
// and the cycle, so that every write changes memory and a stale read shows.
func (d *Driver) wrData(addr uint64, dst []uint64) {
	for w := range dst {
		dst[w] = mix(addr ^ uint64(w)<<56 ^ d.Cycle<<20)
	}
}

func mix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// LinkReq is what the model drives on link l's request channel this
// cycle, and whether the link is ready (the transfer happens when both).
func (d *Driver) LinkReq(l int) (r pcie.Req, ready bool) {
	lo := &d.M.lo[l]
	r.Valid = d.out[lo.reqValid] != 0
	r.Write = d.out[lo.reqWrite] != 0
	r.Addr = d.out[lo.reqAddr]
	r.Beats = int(d.out[lo.reqBeats])
	r.Tag = int(d.out[lo.reqTag])
	copy(r.Data[:], d.out[lo.reqData:lo.reqData+4])
	r.Last = d.out[lo.reqLast] != 0
	return r, d.in[lo.reqReady] != 0
}

// In and Out are this cycle's port vectors (valid in Observe).
func (d *Driver) In() []uint64  { return d.in }
func (d *Driver) Out() []uint64 { return d.out }

// Run steps n cycles.
func (d *Driver) Run(n uint64) error {
	for i := uint64(0); i < n; i++ {
		if err := d.Step(); err != nil {
			return err
		}
	}
	return nil
}

// Drain stops the generator and steps until every client has received all
// its reads and sent all its writes, for at most limit cycles.
func (d *Driver) Drain(limit uint64) error {
	g := d.Gen
	d.Gen = nil
	defer func() { d.Gen = g }()
	for i := uint64(0); d.Busy(); i++ {
		if i == limit {
			return fmt.Errorf("drain: still busy after %d cycles: %s", limit, d.M.DescribeState())
		}
		if err := d.Step(); err != nil {
			return err
		}
	}
	return nil
}

// Flush drains the clients, then runs the flush sequence of memory.md §4.6
// until flush_done, for at most limit cycles. Afterwards host memory holds
// every write (Host equals Shadow).
func (d *Driver) Flush(limit uint64) error {
	if err := d.Drain(limit); err != nil {
		return err
	}
	g := d.Gen
	d.Gen = nil
	defer func() { d.Gen = g }()
	d.flushOn = true
	for i := uint64(0); ; i++ {
		if i == limit {
			return fmt.Errorf("flush: no flush_done after %d cycles: %s", limit, d.M.DescribeState())
		}
		if err := d.Step(); err != nil {
			return err
		}
		if d.out[d.M.fDone] != 0 {
			return nil
		}
	}
}
