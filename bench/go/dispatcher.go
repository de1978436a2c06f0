// The dispatcher of cspfiber's issue 11 (dispatcher/ on the C++ side),
// written the way a Go program writes it, for the dispatcher_* workloads.
//
// Shape, the same as csp::dispatcher's:
//   - intake   clients -> loop    submitted jobs (buffered, 256 like ours);
//   - workers  worker -> loop     an idle worker registers its own work
//     channel (capacity 1) here, every time it is idle;
//   - status   worker -> loop     started, succeeded / failed / cancelled, quit;
//   - control  clients -> loop    wait-all and shutdown, each with a reply channel;
//   - quit     loop -> a worker   one per worker.
//
// One loop goroutine owns the job table (map id -> record with state, times,
// worker, attempts) and the FIFO of queued jobs; nothing else touches them.
// Like ours, every job gets a done channel (closed by the loop when the job is
// final, so a handle can wait for its result) and a cancellable context (so a
// running job can be cancelled by id); records stay in the table after the
// job ends (a query by id works at any time).
package main

import (
	"context"
	"sort"
	"sync/atomic"
	"time"
)

type djobState uint8

const (
	djobQueued djobState = iota
	djobRunning
	djobSucceeded
	djobFailed
	djobCancelled
)

// djob is what submit returns a handle to: the function and, once done is
// closed, the result (written by the loop before it closes done).
type djob struct {
	id     int64
	fn     func() int
	done   chan struct{}
	result int
}

// get waits for the job and returns its result.
func (j *djob) get() int {
	<-j.done
	return j.result
}

// djobRecord is one row of the loop's job table.
type djobRecord struct {
	job                          *djob
	state                        djobState
	worker, attempts             int
	submitted, started, finished time.Time
	cancel                       context.CancelFunc
}

type dsubmission struct {
	job *djob
	at  time.Time
}

type dwork struct {
	job *djob
	ctx context.Context
}

type dregistration struct {
	worker int
	work   chan dwork
}

type dstatusKind uint8

const (
	dstatusStarted dstatusKind = iota
	dstatusSucceeded
	dstatusFailed
	dstatusCancelled
	dstatusQuit
)

type dstatus struct {
	kind   dstatusKind
	worker int
	id     int64
	at     time.Time
	result int
}

// dcontrol is a request to the loop, answered on reply.
type dcontrol struct {
	kind  dcontrolKind
	reply chan dtotals
}

type dcontrolKind uint8

const (
	dwaitAll  dcontrolKind = iota // answered when no job is open
	dshutdown                     // finish the queued jobs, then every worker quits
	dsync                         // answered at once (after the intake is drained)
)

type dtotals struct {
	succeeded, sum int
}

type dispatcher struct {
	nextID  int64
	intake  chan dsubmission
	workers chan dregistration
	status  chan dstatus
	control chan dcontrol
	stopped chan struct{}
}

func newDispatcher(workers int) *dispatcher {
	d := &dispatcher{
		intake:  make(chan dsubmission, 256),
		workers: make(chan dregistration),
		status:  make(chan dstatus),
		control: make(chan dcontrol),
		stopped: make(chan struct{}),
	}
	go d.loop(workers)
	return d
}

// submit queues fn and returns its handle. Not after shutdown.
func (d *dispatcher) submit(fn func() int) *djob {
	j := &djob{id: atomic.AddInt64(&d.nextID, 1), fn: fn, done: make(chan struct{})}
	d.intake <- dsubmission{j, time.Now()}
	return j
}

// waitAll blocks until no submitted job is open; the totals so far.
func (d *dispatcher) waitAll() dtotals {
	reply := make(chan dtotals, 1)
	d.control <- dcontrol{dwaitAll, reply}
	return <-reply
}

// shutdown finishes the queued jobs and waits until every worker has quit.
func (d *dispatcher) shutdown() {
	reply := make(chan dtotals, 1)
	d.control <- dcontrol{dshutdown, reply}
	<-d.stopped
}

func (d *dispatcher) loop(nworkers int) {
	table := map[int64]*djobRecord{}
	var queue []*djobRecord
	var idle []dregistration
	quits := map[int]chan struct{}{}
	for id := 1; id <= nworkers; id++ {
		quits[id] = make(chan struct{}, 1)
		go d.worker(id, quits[id])
	}
	intake := d.intake
	open, draining := 0, false
	var totals dtotals
	var waiters []chan dtotals

	take := func(s dsubmission) {
		r := &djobRecord{job: s.job, state: djobQueued, submitted: s.at}
		table[s.job.id] = r
		queue = append(queue, r)
		open++
	}
	// Every submission already buffered is in the table before a control
	// message is answered (ours: invariant 7).
	drain := func() {
		for intake != nil {
			select {
			case s, ok := <-intake:
				if !ok {
					intake = nil
					return
				}
				take(s)
			default:
				return
			}
		}
	}
	finish := func(r *djobRecord, st djobState, at time.Time) {
		r.state, r.finished = st, at
		r.cancel()
		close(r.job.done)
		open--
	}

	for intake != nil || len(quits) > 0 {
		select {
		case s, ok := <-intake:
			if !ok {
				intake = nil
				break
			}
			take(s)
		case reg := <-d.workers:
			if draining && intake == nil && open == 0 {
				quits[reg.worker] <- struct{}{}
				break
			}
			idle = append(idle, reg)
		case st := <-d.status:
			if st.kind == dstatusQuit {
				delete(quits, st.worker)
				break
			}
			r := table[st.id]
			switch st.kind {
			case dstatusStarted:
				r.state, r.started = djobRunning, st.at
				r.attempts++
			case dstatusSucceeded:
				r.job.result = st.result
				totals.succeeded++
				totals.sum += st.result
				finish(r, djobSucceeded, st.at)
			case dstatusFailed:
				finish(r, djobFailed, st.at)
			default:
				finish(r, djobCancelled, st.at)
			}
		case c := <-d.control:
			drain()
			switch {
			case c.kind == dsync:
				c.reply <- totals
			case c.kind == dshutdown && !draining:
				draining = true
				close(d.intake)
				drain()
				fallthrough
			default:
				waiters = append(waiters, c.reply)
			}
		}
		// Hand queued jobs to idle workers, oldest first.
		for len(queue) > 0 && len(idle) > 0 {
			r, w := queue[0], idle[len(idle)-1]
			queue, idle = queue[1:], idle[:len(idle)-1]
			ctx, cancel := context.WithCancel(context.Background())
			r.cancel, r.worker = cancel, w.worker
			w.work <- dwork{r.job, ctx} // capacity 1, empty: never blocks
		}
		if open == 0 {
			for _, w := range waiters {
				w <- totals
			}
			waiters = waiters[:0]
			if draining && intake == nil {
				for _, w := range idle {
					quits[w.worker] <- struct{}{}
				}
				idle = idle[:0]
			}
		}
	}
	close(d.stopped)
}

func (d *dispatcher) worker(id int, quit chan struct{}) {
	work := make(chan dwork, 1)
	for {
		d.workers <- dregistration{id, work}
		select {
		case w := <-work:
			d.run(id, w)
		case <-quit:
			d.status <- dstatus{kind: dstatusQuit, worker: id}
			return
		}
	}
}

// run runs one job and reports on it; a panic ends it failed.
func (d *dispatcher) run(worker int, w dwork) {
	if w.ctx.Err() != nil { // cancelled before it started: never run it
		d.status <- dstatus{kind: dstatusCancelled, worker: worker, id: w.job.id, at: time.Now()}
		return
	}
	d.status <- dstatus{kind: dstatusStarted, worker: worker, id: w.job.id, at: time.Now()}
	rep := dstatus{kind: dstatusFailed, worker: worker, id: w.job.id}
	func() {
		defer func() { _ = recover() }()
		rep.result = w.job.fn()
		rep.kind = dstatusSucceeded
	}()
	rep.at = time.Now()
	d.status <- rep
}

// dispatcherJobs returns a workload: 200,000 tiny jobs (each adds two
// numbers) submitted from one goroutine to a dispatcher with w workers,
// then a wait for all of them. ns per job.
func dispatcherJobs(name string, w int) func(float64) []result {
	return func(scale float64) []result {
		n := scaled(200_000, scale)
		d := newDispatcher(w)
		start := time.Now()
		for i := 0; i < n; i++ {
			a, b := i, 1
			d.submit(func() int { return a + b })
		}
		t := d.waitAll()
		dur := time.Since(start)
		d.shutdown()
		check(name, t.succeeded, n)
		check(name, t.sum, n*(n-1)/2+n)
		return []result{perOp(name, dur, n)}
	}
}

// dispatcherLatency: the time from submit to the job's start, p50 and p99,
// at half load: 4 workers, and the submitter keeps at most 2 jobs between
// submit and start (a token per job, handed back by the job when it starts),
// so an idle worker is always there and the figure is the dispatch path.
func dispatcherLatency(scale float64) []result {
	const workers = 4
	n := scaled(100_000, scale)
	lat := make([]time.Duration, n)
	tokens := make(chan struct{}, workers/2)
	d := newDispatcher(workers)
	for i := 0; i < n; i++ {
		tokens <- struct{}{}
		i, t0 := i, time.Now()
		d.submit(func() int {
			lat[i] = time.Since(t0)
			<-tokens
			return i
		})
	}
	t := d.waitAll()
	d.shutdown()
	check("dispatcher_latency_4", t.succeeded, n)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	at := func(q float64) float64 { return float64(lat[int(q*float64(n-1))].Nanoseconds()) }
	return []result{
		{"dispatcher_latency_4_p50", at(0.50), "ns"},
		{"dispatcher_latency_4_p99", at(0.99), "ns"},
	}
}

// dispatcherQueued: the resident memory per queued job: one worker held in
// a job, 1,000,000 tiny jobs submitted behind it, a round trip to the loop
// (it takes every buffered submission into its table first), then VmRSS
// growth / 1e6. Not affected by -scale; the dispatcher is left blocked (the
// process ends).
func dispatcherQueued(float64) []result {
	const n = 1_000_000
	d := newDispatcher(1)
	gate, started := make(chan struct{}), make(chan struct{})
	d.submit(func() int {
		close(started)
		<-gate
		return 0
	})
	<-started
	before := procStatus("VmRSS")
	for i := 0; i < n; i++ {
		a, b := i, 1
		d.submit(func() int { return a + b })
	}
	reply := make(chan dtotals, 1)
	d.control <- dcontrol{dsync, reply}
	<-reply
	after := procStatus("VmRSS")
	return []result{{"dispatcher_queued_1m", float64(after-before) / n, "bytes"}}
}

// The workloads join main.go's table here, so main.go needs no edit.
// dispatcher_chan_4 is the same Go program: on the C++ side it names this
// design ported to csp::chan (bench/dispatcher_rows.cpp).
func init() {
	workloads = append(workloads,
		workload{"dispatcher_4", false, dispatcherJobs("dispatcher_4", 4)},
		workload{"dispatcher_64", false, dispatcherJobs("dispatcher_64", 64)},
		workload{"dispatcher_chan_4", false, dispatcherJobs("dispatcher_chan_4", 4)},
		workload{"dispatcher_chan_64", false, dispatcherJobs("dispatcher_chan_64", 64)},
		workload{"dispatcher_latency_4", true, dispatcherLatency},
		workload{"dispatcher_queued_1m", true, dispatcherQueued})
}
