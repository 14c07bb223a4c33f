// Package cosim runs a Verilated RTL model and a Go golden model side by
// side and compares every output of the RTL, every cycle, with the golden
// model's prediction.
//
// The loop is closed without per-cycle round trips: the stimulus computes
// the inputs of each cycle from the outputs the golden model *predicted* for
// the cycle before, so the Go side can run frames of cycles ahead while the
// RTL's real outputs stream back and are compared. The first mismatch ends
// the run — nothing after it can be trusted.
package cosim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kvdirect/kvd/cosim/wire"
	"github.com/kvdirect/kvd/golden/model"
	"github.com/kvdirect/kvd/version"
)

// Stimulus drives a run. Next fills in with the inputs of cycle, given the
// outputs the golden model predicted for cycle-1 (nil at cycle 0), and
// returns false when the scenario is complete. An error means the
// testbench's own check of the predicted outputs failed.
type Stimulus interface {
	Next(cycle uint64, prev, in []uint64) (bool, error)
}

// Progresser is implemented by stimuli that can tell whether the design is
// still making progress (transactions completed); a run stops as hung when
// the count stays still for Options.HangCycles.
type Progresser interface{ Progress() uint64 }

// Describer is implemented by stimuli that can say which transaction was in
// flight at a cycle, for divergence reports.
type Describer interface{ Describe(cycle uint64) string }

// Options configure a run.
type Options struct {
	Cycles      uint64        // stop after this many cycles (0: when the stimulus ends)
	Ops         uint64        // stop once the stimulus reports this many operations done (0: off)
	FrameCycles int           // cycles per frame (default 4096)
	InFlight    int           // frames in flight (default 4)
	History     int           // cycles of history kept for a report (default 32)
	HangCycles  uint64        // no progress for this long is a hang (0: off)
	Timeout     time.Duration // simulator silence that counts as stopped answering (default 60 s)
	ResetCycles uint32        // default 4
	TCP         bool          // use TCP on loopback instead of a Unix socket
	TraceFrom   uint64        // with TracePath: FST-trace cycles [TraceFrom, TraceTo]
	TraceTo     uint64
	TracePath   string
	// KeepGoing records the first divergence but runs to the end, so a trace
	// window after it is complete.
	KeepGoing    bool
	RecordInputs io.Writer // every input record, as the shim's --replay reads them
	ShimArgs     []string  // extra arguments (e.g. +verilator+seed+N)
	// Progress, when set, is called about once a second with the cycles
	// compared so far (from the reader goroutine).
	Progress func(cycles uint64)
}

func (o *Options) defaults() {
	// Measured with kvd bench bridge on the 2-core machine: frames of 256
	// cycles lose ~40 % of native speed to per-frame syscalls and wake-ups,
	// 4096-cycle frames about 20 %.
	if o.FrameCycles <= 0 {
		o.FrameCycles = 4096
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if o.History <= 0 {
		o.History = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.ResetCycles == 0 {
		o.ResetCycles = 4
	}
}

// CycleRecord is one cycle of a window: inputs, predicted and actual outputs.
type CycleRecord struct {
	Cycle    uint64
	In       []uint64
	Expected []uint64
	Actual   []uint64
}

// Divergence is the first cycle where the RTL and the golden model disagree.
type Divergence struct {
	Cycle      uint64
	Mismatches []model.Mismatch
	Window     []CycleRecord // History cycles before, the cycle, and a few after
	InFlight   string        // the stimulus's description of the transaction
}

// Result is what a run measured.
type Result struct {
	Cycles       uint64
	Wall         time.Duration
	RTLEval      time.Duration // inside the shim, evaluating the model
	Golden       time.Duration // stimulus and golden model
	Compare      time.Duration // comparing outputs
	WaitRTL      time.Duration // the Go side blocked waiting for the RTL
	CyclesPerSec float64
	Hello        wire.Hello
	Divergence   *Divergence
}

// SimError is a failure of the simulator process or the bridge.
type SimError struct {
	What   string // "crashed", "exited", "stopped answering", "refused", ...
	Cycle  uint64 // first cycle of the frame being simulated
	Frame  uint64 // cycles in that frame (0: not inside a frame)
	Status string // exit status, when the process ended
	Stderr string // tail of its standard error
	Err    error
}

func (e *SimError) Error() string {
	var b strings.Builder
	if e.Frame > 1 {
		fmt.Fprintf(&b, "simulator %s during cycles %d..%d", e.What, e.Cycle, e.Cycle+e.Frame-1)
	} else {
		fmt.Fprintf(&b, "simulator %s at cycle %d", e.What, e.Cycle)
	}
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "\n--- simulator stderr (tail) ---\n%s", s)
	}
	return b.String()
}

// GoldenError is an error returned by the golden model or the stimulus.
type GoldenError struct {
	Cycle uint64
	Err   error
}

func (e *GoldenError) Error() string {
	return fmt.Sprintf("golden model / testbench error at cycle %d: %v", e.Cycle, e.Err)
}

// HangError reports a design that stopped making progress.
type HangError struct {
	Cycle, Since uint64
	State        string
}

func (e *HangError) Error() string {
	return fmt.Sprintf("hang: no progress from cycle %d to cycle %d\ngolden model state: %s", e.Since, e.Cycle, e.State)
}

type frame struct {
	start uint64
	n     int
	in    []uint64
	exp   []uint64
	act   []uint64
}

// ringBuffer keeps the tail of the simulator's stderr.
type ringBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (r *ringBuffer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if len(r.buf) > r.max {
		r.buf = append([]byte(nil), r.buf[len(r.buf)-r.max:]...)
	}
	return len(p), nil
}

func (r *ringBuffer) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.buf)
}

// Run co-simulates the shim binary against m driven by stim.
func Run(ctx context.Context, binary string, m model.Model, stim Stimulus, opt Options) (*Result, error) {
	opt.defaults()
	if !wire.LittleEndian() {
		return nil, errors.New("the bridge needs a little-endian host")
	}
	layout, err := model.NewLayout(m.Ports())
	if err != nil {
		return nil, fmt.Errorf("golden model ports: %v", err)
	}

	sp, err := startShim(ctx, binary, opt)
	if err != nil {
		return nil, err
	}
	defer sp.kill()

	conn, err := sp.accept(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(opt.Timeout))
	hello, err := wire.ReadHello(conn)
	if err != nil {
		return nil, sp.failure("refused", 0, err)
	}
	if err := checkHello(hello, layout); err != nil {
		return nil, err
	}
	if err := wire.WriteStart(conn, opt.ResetCycles, opt.TraceFrom, opt.TraceTo, opt.TracePath); err != nil {
		return nil, sp.failure("refused", 0, err)
	}

	r := &runner{
		ctx: ctx, opt: opt, layout: layout, m: m, stim: stim, conn: conn, sp: sp,
		free:    make(chan *frame, opt.InFlight+4),
		toSend:  make(chan *frame, opt.InFlight+4),
		pending: make(chan *frame, opt.InFlight+4),
		stop:    make(chan struct{}),
	}
	for i := 0; i < opt.InFlight+3; i++ {
		r.free <- &frame{
			in:  make([]uint64, opt.FrameCycles*layout.InWords),
			exp: make([]uint64, opt.FrameCycles*layout.OutWords),
			act: make([]uint64, opt.FrameCycles*layout.OutWords),
		}
	}
	res := &Result{Hello: hello}
	m.Reset()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.write() }()
	go func() { defer wg.Done(); r.read(res) }()
	r.produce(res)
	wg.Wait()
	res.Wall = time.Since(start)
	if res.Wall > 0 {
		res.CyclesPerSec = float64(res.Cycles) / res.Wall.Seconds()
	}
	if r.err != nil {
		return res, r.err
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("interrupted at cycle %d", res.Cycles)
	}
	return res, nil
}

func checkHello(h wire.Hello, l *model.Layout) error {
	if h.ABI != version.ShimABI {
		return fmt.Errorf("the simulator speaks shim ABI %d, this kvd speaks %d: rebuild the model", h.ABI, version.ShimABI)
	}
	var problems []string
	if len(h.Ports) != len(l.Ports) {
		problems = append(problems, fmt.Sprintf("the RTL has %d data ports, the golden model %d", len(h.Ports), len(l.Ports)))
	}
	for i := 0; i < len(h.Ports) && i < len(l.Ports); i++ {
		hp, gp := h.Ports[i], l.Ports[i]
		hd := model.In
		if hp.Dir == 1 {
			hd = model.Out
		}
		if hp.Name != gp.Name || hd != gp.Dir || hp.Width != gp.Width {
			problems = append(problems, fmt.Sprintf("port %d: RTL %s %s[%d], golden %s %s[%d]", i, hd, hp.Name, hp.Width, gp.Dir, gp.Name, gp.Width))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the simulator's model (top %s, model %s) does not match the golden model: %s",
			h.Top, h.ModelHash, strings.Join(problems, "; "))
	}
	return nil
}

type runner struct {
	ctx     context.Context
	opt     Options
	layout  *model.Layout
	m       model.Model
	stim    Stimulus
	conn    net.Conn
	sp      *shimProc
	free    chan *frame
	toSend  chan *frame
	pending chan *frame
	stop    chan struct{}

	once sync.Once
	err  error
	mu   sync.Mutex
}

func (r *runner) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.halt()
}

// halt stops the run. Unless the run keeps going to finish a trace, the
// simulator is killed at once: it may be blocked writing outputs nobody will
// read, and its socket must not keep the writer waiting.
func (r *runner) halt() {
	r.once.Do(func() {
		close(r.stop)
		r.sp.terminate()
		r.conn.Close()
	})
}

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// produce runs the stimulus and the golden model ahead of the RTL.
func (r *runner) produce(res *Result) {
	defer close(r.toSend)
	defer close(r.pending)
	inW, outW := r.layout.InWords, r.layout.OutWords
	var prev []uint64
	var cycle uint64
	prog, _ := r.stim.(Progresser)
	if r.opt.Ops > 0 && prog == nil {
		r.fail(&GoldenError{Err: errors.New("--ops: this scenario does not count operations; use --cycles")})
		return
	}
	var lastProgress, progressCycle uint64
	for {
		var f *frame
		t0 := time.Now()
		select {
		case f = <-r.free:
		case <-r.stop:
			return
		case <-r.ctx.Done():
			r.halt()
			return
		}
		t1 := time.Now()
		res.WaitRTL += t1.Sub(t0)
		f.start = cycle
		f.n = 0
		done := false
		for f.n < r.opt.FrameCycles {
			if r.opt.Cycles > 0 && cycle >= r.opt.Cycles {
				done = true
				break
			}
			in := f.in[f.n*inW : (f.n+1)*inW]
			clear(in)
			more, err := r.stim.Next(cycle, prev, in)
			if err != nil {
				r.fail(&GoldenError{Cycle: cycle, Err: err})
				return
			}
			if !more {
				done = true
				break
			}
			out := f.exp[f.n*outW : (f.n+1)*outW]
			if err := r.m.Step(in, out); err != nil {
				r.fail(&GoldenError{Cycle: cycle, Err: err})
				return
			}
			prev = out
			f.n++
			cycle++
		}
		res.Golden += time.Since(t1)
		if prog != nil && r.opt.Ops > 0 && prog.Progress() >= r.opt.Ops {
			done = true
		}
		if prog != nil && r.opt.HangCycles > 0 {
			if p := prog.Progress(); p != lastProgress {
				lastProgress, progressCycle = p, cycle
			} else if cycle-progressCycle >= r.opt.HangCycles {
				r.fail(&HangError{Cycle: cycle, Since: progressCycle, State: describeState(r.m)})
				return
			}
		}
		if f.n > 0 {
			r.toSend <- f
			r.pending <- f
		} else {
			r.free <- f
		}
		if done {
			return
		}
	}
}

func describeState(m model.Model) string {
	if d, ok := m.(interface{ DescribeState() string }); ok {
		return d.DescribeState()
	}
	s := fmt.Sprintf("%+v", m.Snapshot())
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// write streams input frames to the shim, then the finish message.
func (r *runner) write() {
	bw := bufio.NewWriterSize(r.conn, 1<<16)
	broken := false
	for f := range r.toSend {
		if broken || (r.stopped() && !r.opt.KeepGoing) {
			continue // drain; the shim is gone or being killed
		}
		data := f.in[:f.n*r.layout.InWords]
		if err := wire.WriteFrame(bw, wire.KindInputs, f.n, data); err != nil {
			// The reader reports the failure: it knows the first frame the
			// simulator did not answer, which is where it really failed.
			broken = true
			continue
		}
		if r.opt.RecordInputs != nil {
			r.opt.RecordInputs.Write(wire.Bytes(data))
		}
	}
	if !broken && (!r.stopped() || r.opt.KeepGoing) {
		wire.WriteFrame(bw, wire.KindFinish, 0, nil)
	}
}

// read receives the RTL's outputs and compares them with the predictions.
func (r *runner) read(res *Result) {
	outW := r.layout.OutWords
	lastProgress := time.Now()
	var hist []*frame
	release := func(f *frame) {
		hist = append(hist, f)
		need := (r.opt.History + r.opt.FrameCycles - 1) / r.opt.FrameCycles
		for len(hist) > need {
			r.free <- hist[0]
			hist = hist[1:]
		}
	}
	for f := range r.pending {
		if r.stopped() && !r.opt.KeepGoing {
			r.free <- f
			continue
		}
		r.conn.SetReadDeadline(time.Now().Add(r.opt.Timeout))
		kind, n, evalNs, _, err := wire.ReadHeader(r.conn)
		if err == nil && (kind != wire.KindOutputs || int(n) != f.n) {
			err = fmt.Errorf("protocol: got frame kind %d of %d cycles, want outputs of %d", kind, n, f.n)
		}
		if err == nil {
			_, err = io.ReadFull(r.conn, wire.Bytes(f.act[:f.n*outW]))
		}
		if err != nil {
			if !r.stopped() {
				se := r.readFailure(f.start, err)
				se.Frame = uint64(f.n)
				r.fail(se)
			}
			r.free <- f
			continue
		}
		res.RTLEval += time.Duration(evalNs)
		t0 := time.Now()
		for i := 0; i < f.n; i++ {
			exp := f.exp[i*outW : (i+1)*outW]
			act := f.act[i*outW : (i+1)*outW]
			if !r.layout.Equal(exp, act) && res.Divergence == nil {
				res.Divergence = r.divergence(hist, f, i)
				if !r.opt.KeepGoing {
					res.Cycles = f.start + uint64(i) + 1
					r.halt()
					break
				}
			}
		}
		res.Compare += time.Since(t0)
		if res.Divergence == nil || r.opt.KeepGoing {
			res.Cycles = f.start + uint64(f.n)
		}
		if r.opt.Progress != nil && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			r.opt.Progress(res.Cycles)
		}
		release(f)
	}
	if r.stopped() && !r.opt.KeepGoing {
		return
	}
	// Orderly end: the shim closes its trace and reports its totals.
	r.conn.SetReadDeadline(time.Now().Add(r.opt.Timeout))
	kind, _, _, _, err := wire.ReadHeader(r.conn)
	if (err != nil || kind != wire.KindStats) && !r.stopped() {
		if err == nil {
			err = fmt.Errorf("protocol: got frame kind %d, want stats", kind)
		}
		r.fail(r.readFailure(res.Cycles, err))
	}
}

func (r *runner) readFailure(cycle uint64, err error) *SimError {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return r.sp.failure(fmt.Sprintf("stopped answering for %s", r.opt.Timeout), cycle, nil)
	}
	return r.sp.failure("exited", cycle, err)
}

func (r *runner) divergence(hist []*frame, f *frame, at int) *Divergence {
	inW, outW := r.layout.InWords, r.layout.OutWords
	d := &Divergence{Cycle: f.start + uint64(at)}
	d.Mismatches = r.layout.Compare(f.exp[at*outW:(at+1)*outW], f.act[at*outW:(at+1)*outW], nil)
	frames := append(append([]*frame(nil), hist...), f)
	for _, fr := range frames {
		for i := 0; i < fr.n; i++ {
			c := fr.start + uint64(i)
			if c+uint64(r.opt.History) < d.Cycle || c > d.Cycle+3 {
				continue
			}
			d.Window = append(d.Window, CycleRecord{
				Cycle:    c,
				In:       append([]uint64(nil), fr.in[i*inW:(i+1)*inW]...),
				Expected: append([]uint64(nil), fr.exp[i*outW:(i+1)*outW]...),
				Actual:   append([]uint64(nil), fr.act[i*outW:(i+1)*outW]...),
			})
		}
	}
	if ds, ok := r.stim.(Describer); ok {
		d.InFlight = ds.Describe(d.Cycle)
	}
	return d
}

// shimProc is the simulator process and its listening socket.
type shimProc struct {
	cmd     *exec.Cmd
	ln      net.Listener
	dir     string
	stderr  *ringBuffer
	exited  chan struct{}
	waitErr error
}

func startShim(ctx context.Context, binary string, opt Options) (*shimProc, error) {
	sp := &shimProc{stderr: &ringBuffer{max: 16 << 10}, exited: make(chan struct{})}
	var addr string
	if opt.TCP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		sp.ln = ln
		addr = "tcp:" + ln.Addr().String()
	} else {
		dir, err := os.MkdirTemp("", "kvd-bridge")
		if err != nil {
			return nil, err
		}
		sp.dir = dir
		path := filepath.Join(dir, "sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		sp.ln = ln
		addr = "unix:" + path
	}
	args := append([]string{"--connect", addr}, opt.ShimArgs...)
	sp.cmd = exec.Command(binary, args...)
	sp.cmd.Stdout = sp.stderr
	sp.cmd.Stderr = sp.stderr
	// Its own process group, killed with the driver: nothing is left behind,
	// even when kvd itself is killed.
	sp.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := sp.cmd.Start(); err != nil {
		sp.ln.Close()
		os.RemoveAll(sp.dir)
		return nil, fmt.Errorf("starting simulator %s: %v", binary, err)
	}
	go func() {
		sp.waitErr = sp.cmd.Wait()
		close(sp.exited)
	}()
	return sp, nil
}

func (sp *shimProc) accept(ctx context.Context) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sp.ln.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, sp.failure("did not connect", 0, r.err)
		}
		return r.c, nil
	case <-sp.exited:
		return nil, sp.failure("exited before connecting", 0, nil)
	case <-time.After(30 * time.Second):
		return nil, sp.failure("did not connect within 30 s", 0, nil)
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted")
	}
}

// failure builds a SimError, waiting briefly for the process to end so its
// exit status and last words are in the report.
func (sp *shimProc) failure(what string, cycle uint64, err error) *SimError {
	e := &SimError{What: what, Cycle: cycle, Err: err}
	select {
	case <-sp.exited:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-sp.exited:
		e.Status = exitStatus(sp.waitErr)
		if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			e.Err = nil // the exit status says it better
			if strings.Contains(e.Status, "signal") {
				e.What = "crashed"
			}
		}
	default:
	}
	e.Stderr = sp.stderr.String()
	return e
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return fmt.Sprintf("killed by signal %s", ws.Signal())
			}
			s := fmt.Sprintf("exit status %d", ws.ExitStatus())
			if ws.ExitStatus() == 134 {
				s += ", an assertion or $fatal (abort)"
			}
			return s
		}
	}
	return err.Error()
}

// terminate kills the simulator's whole process group.
func (sp *shimProc) terminate() {
	select {
	case <-sp.exited:
	default:
		syscall.Kill(-sp.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// kill ends the simulator, giving one that finished in order a moment to
// exit by itself, and removes the socket.
func (sp *shimProc) kill() {
	select {
	case <-sp.exited:
	case <-time.After(2 * time.Second):
	}
	sp.terminate()
	<-sp.exited
	sp.ln.Close()
	if sp.dir != "" {
		os.RemoveAll(sp.dir)
	}
}
