// Command cspbench is the Go half of the cspfiber side-by-side benchmark
// suite. The C++ half implements the same workloads under the same names.
//
// Every measurement is printed to stdout as one CSV line
//
//	workload,threads,value,unit
//
// where threads is the GOMAXPROCS value used and unit is ns (per operation),
// ms (total) or bytes. Each value is the median of -reps repetitions.
//
// Memory figures (skynet, idle_1m) come from VmHWM/VmRSS in
// /proc/self/status. Those are process-wide, VmHWM is a high-water mark, and
// the Go runtime never gives goroutine descriptors back to the OS, so such a
// figure only means something in a process that has run nothing big before.
// Unless -inproc is given, every repetition of a memory workload therefore
// runs in a fresh child process (this program re-executed with
// -inproc -reps 1 -only <name>). A runner can do the same itself by invoking
// the program once per memory workload, e.g. -only skynet.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// result is one measurement produced by one repetition of a workload.
type result struct {
	name  string
	value float64
	unit  string // "ns", "ms" or "bytes"
}

// workload is a named benchmark. run performs one repetition; scale
// multiplies its iteration count.
type workload struct {
	name string
	// fresh marks memory workloads, whose repetitions each run in a new
	// process unless -inproc is set.
	fresh bool
	run   func(scale float64) []result
}

var workloads = []workload{
	{"pingpong", false, pingpong},
	{"unbuffered_stream", false, stream("unbuffered_stream", 0, 2_000_000)},
	{"buffered_stream_1", false, stream("buffered_stream_1", 1, 2_000_000)},
	{"buffered_stream_1024", false, stream("buffered_stream_1024", 1024, 6_000_000)},
	{"mpmc_2x2", false, mpmc("mpmc_2x2", 2, 6_000_000)},
	{"mpmc_8x8", false, mpmc("mpmc_8x8", 8, 6_000_000)},
	{"select2", false, select2},
	{"workerpool_4", false, workerpool("workerpool_4", 4)},
	{"workerpool_64", false, workerpool("workerpool_64", 64)},
	{"spawn_join", false, spawnJoin},
	{"cpu_bound_latency", false, cpuBoundLatency},
	{"skynet", true, skynet},
	{"idle_1m", true, idle1m},
}

func main() {
	procsFlag := flag.String("procs", defaultProcs(), "comma-separated GOMAXPROCS values to run")
	reps := flag.Int("reps", 5, "repetitions per workload; the median is printed")
	only := flag.String("only", "", "comma-separated workload names to run (default: all)")
	scale := flag.Float64("scale", 1.0, "multiplier for iteration counts (skynet and idle_1m have fixed sizes)")
	inproc := flag.Bool("inproc", false, "run memory workloads in this process instead of a fresh process per repetition")
	flag.Parse()

	procs, err := parseProcs(*procsFlag)
	if err != nil {
		fatalf("-procs: %v", err)
	}
	if *reps < 1 {
		fatalf("-reps must be at least 1")
	}
	if *scale <= 0 {
		fatalf("-scale must be positive")
	}
	selected, err := selectWorkloads(*only)
	if err != nil {
		fatalf("-only: %v", err)
	}

	for _, p := range procs {
		runtime.GOMAXPROCS(p)
		for _, w := range selected {
			var runs [][]result
			if w.fresh && !*inproc {
				runs = runFresh(w, p, *reps, *scale)
			} else {
				for r := 0; r < *reps; r++ {
					runtime.GC()
					runs = append(runs, w.run(*scale))
				}
			}
			printMedians(p, runs)
		}
	}
}

// pingpong measures a synchronous round trip between two goroutines: A sends
// to B over one unbuffered channel and B sends the value back over another.
// ns per round trip.
func pingpong(scale float64) []result {
	n := scaled(1_000_000, scale)
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		if <-pong != i {
			panic("pingpong: wrong value")
		}
	}
	d := time.Since(start)
	close(ping)
	return []result{perOp("pingpong", d, n)}
}

// stream returns a workload measuring one producer sending ints 0..n-1 to
// one consumer over a channel of the given capacity (0 = unbuffered).
// ns per message.
func stream(name string, capacity, base int) func(float64) []result {
	return func(scale float64) []result {
		n := scaled(base, scale)
		ch := make(chan int, capacity)
		start := time.Now()
		go func() {
			for i := 0; i < n; i++ {
				ch <- i
			}
			close(ch)
		}()
		sum := 0
		for v := range ch {
			sum += v
		}
		d := time.Since(start)
		check(name, sum, n*(n-1)/2)
		return []result{perOp(name, d, n)}
	}
}

// mpmc returns a workload measuring p producers and p consumers sharing one
// channel of capacity 1024. The producers send 0..n-1 between them, split
// evenly; the consumers sum what they receive. ns per message.
func mpmc(name string, p, base int) func(float64) []result {
	return func(scale float64) []result {
		per := max(scaled(base, scale)/p, 1)
		n := per * p
		ch := make(chan int, 1024)
		sums := make([]int, p)
		var producers, consumers sync.WaitGroup
		producers.Add(p)
		consumers.Add(p)
		start := time.Now()
		for c := 0; c < p; c++ {
			go func(c int) {
				defer consumers.Done()
				sum := 0
				for v := range ch {
					sum += v
				}
				sums[c] = sum
			}(c)
		}
		for q := 0; q < p; q++ {
			go func(first int) {
				defer producers.Done()
				for v := first; v < first+per; v++ {
					ch <- v
				}
			}(q * per)
		}
		producers.Wait()
		close(ch)
		consumers.Wait()
		d := time.Since(start)
		total := 0
		for _, s := range sums {
			total += s
		}
		check(name, total, n*(n-1)/2)
		return []result{perOp(name, d, n)}
	}
}

// select2 measures a two-way select: a producer alternately sends to two
// channels of capacity 128 and then closes both; the consumer selects on
// both until both are closed. ns per select that received a value.
func select2(scale float64) []result {
	n := scaled(3_000_000, scale)
	a, b := make(chan int, 128), make(chan int, 128)
	start := time.Now()
	go func(a, b chan<- int) {
		for i := 0; i < n; i++ {
			if i%2 == 0 {
				a <- i
			} else {
				b <- i
			}
		}
		close(a)
		close(b)
	}(a, b)
	received, sum := 0, 0
	for a != nil || b != nil {
		select {
		case v, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			received++
			sum += v
		case v, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			received++
			sum += v
		}
	}
	d := time.Since(start)
	check("select2", received, n)
	check("select2", sum, n*(n-1)/2)
	return []result{perOp("select2", d, received)}
}

// workerpool returns a workload measuring a pool of w workers draining
// 2,000,000 tiny jobs (closures capturing one int and doing a trivial add)
// from a channel of capacity 1024. Each worker counts the jobs it ran; a
// WaitGroup waits for the workers after the channel is closed. ns per job.
func workerpool(name string, w int) func(float64) []result {
	return func(scale float64) []result {
		n := scaled(2_000_000, scale)
		jobs := make(chan func(), 1024)
		counts := make([]int, w)
		var wg sync.WaitGroup
		wg.Add(w)
		start := time.Now()
		for i := 0; i < w; i++ {
			go func(i int) {
				defer wg.Done()
				done := 0
				for job := range jobs {
					job()
					done++
				}
				counts[i] = done
			}(i)
		}
		for i := 0; i < n; i++ {
			v := i
			jobs <- func() { _ = v + 1 }
		}
		close(jobs)
		wg.Wait()
		d := time.Since(start)
		total := 0
		for _, c := range counts {
			total += c
		}
		check(name, total, n)
		return []result{perOp(name, d, n)}
	}
}

// spawnJoin measures creating a goroutine that does nothing and waiting for
// it with a WaitGroup, in batches of 1000. ns per goroutine.
func spawnJoin(scale float64) []result {
	const batch = 1000
	batches := max(scaled(1_500_000, scale)/batch, 1)
	var wg sync.WaitGroup
	start := time.Now()
	for b := 0; b < batches; b++ {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	d := time.Since(start)
	return []result{perOp("spawn_join", d, batches*batch)}
}

// cpuBoundLatency: every P busy in a CPU loop that never yields (GOMAXPROCS
// goroutines), while two other goroutines ping-pong 1000 round trips: the
// time from the moment the last loop starts (it wakes the pinger) to the
// last round trip. Go gets there by preempting the loops. ns for the whole
// 1000 (one op). Not scaled.
func cpuBoundLatency(float64) []result {
	const roundTrips = 1000
	loops := int32(runtime.GOMAXPROCS(0))
	var stop atomic.Bool
	var started atomic.Int32
	var t0 atomic.Int64
	allBusy := make(chan struct{})
	ping, pong := make(chan int), make(chan int)
	elapsed := make(chan time.Duration, 1)
	var wg sync.WaitGroup
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	go func() {
		<-allBusy
		for i := 0; i < roundTrips; i++ {
			ping <- i
			if <-pong != i {
				panic("cpu_bound_latency: wrong value")
			}
		}
		close(ping)
		elapsed <- time.Duration(time.Now().UnixNano() - t0.Load())
	}()
	wg.Add(int(loops))
	for i := int32(0); i < loops; i++ {
		go func() {
			if started.Add(1) == loops {
				t0.Store(time.Now().UnixNano())
				close(allBusy)
			}
			for !stop.Load() {
			}
			wg.Done()
		}()
	}
	d := <-elapsed
	stop.Store(true)
	wg.Wait()
	return []result{perOp("cpu_bound_latency", d, 1)}
}

// skynet is the classic skynet benchmark: a 10-ary tree of goroutines with
// 1,000,000 leaves (1,111,111 goroutines in all). Each leaf sends its number
// to its parent over the parent's unbuffered channel; each inner node sums
// its 10 children and sends the sum up. Reports total ms and the increase of
// the peak RSS (VmHWM) in bytes. Not affected by -scale.
func skynet(float64) []result {
	before := procStatus("VmHWM")
	start := time.Now()
	c := make(chan int)
	go skynetNode(c, 0, 1_000_000, 10)
	sum := <-c
	d := time.Since(start)
	after := procStatus("VmHWM")
	check("skynet", sum, 499_999_500_000)
	return []result{
		{"skynet", ms(d), "ms"},
		{"skynet_peak_rss", float64(after - before), "bytes"},
	}
}

func skynetNode(c chan<- int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	for i := 0; i < div; i++ {
		go skynetNode(rc, num+i*(size/div), size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// idle1m starts 1,000,000 goroutines that each block receiving on one shared
// unbuffered channel. Reports the ms until all have started and the resident
// memory per goroutine (VmRSS growth / 1e6) in bytes; then closes the channel
// and waits for them to exit (untimed). Not affected by -scale.
func idle1m(float64) []result {
	const n = 1_000_000
	warmFreshMemory(n+n/10, 64<<10) // as cspbench's idle_1m does
	block := make(chan int)
	var started, exited sync.WaitGroup
	started.Add(n)
	exited.Add(n)
	before := procStatus("VmRSS")
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-block
			exited.Done()
		}()
	}
	started.Wait()
	d := time.Since(start)
	after := procStatus("VmRSS")
	close(block)
	exited.Wait()
	return []result{
		{"idle_1m_start", ms(d), "ms"},
		{"idle_1m_rss_per_g", float64(after-before) / n, "bytes"},
	}
}

// warmFreshMemory touches `pages` fresh pages `stride` bytes apart and
// frees them, untimed, so that the guest kernel holds that much free memory
// its host has backed: on a VM whose balloon reports freed memory back to
// the host, a first touch of memory the host took back costs a host fault
// too, by whatever the host did last (bench/first_touch.hpp, the same step
// on our side).
func warmFreshMemory(pages, stride int) {
	b, err := syscall.Mmap(-1, 0, pages*stride, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		fatalf("warmFreshMemory: mmap: %v", err)
	}
	for i := 0; i < pages; i++ {
		b[i*stride+stride-64] = 1
	}
	if err := syscall.Munmap(b); err != nil {
		fatalf("warmFreshMemory: munmap: %v", err)
	}
}

// runFresh runs each repetition of w in a new process and returns the
// results of every repetition.
func runFresh(w workload, procs, reps int, scale float64) [][]result {
	exe, err := os.Executable()
	if err != nil {
		fatalf("cannot find own executable: %v", err)
	}
	var runs [][]result
	for r := 0; r < reps; r++ {
		cmd := exec.Command(exe, "-inproc", "-reps", "1",
			"-procs", strconv.Itoa(procs), "-only", w.name,
			"-scale", strconv.FormatFloat(scale, 'g', -1, 64))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			fatalf("%s: child process: %v", w.name, err)
		}
		runs = append(runs, parseResults(out))
	}
	return runs
}

// parseResults parses CSV lines printed by a child process.
func parseResults(out []byte) []result {
	var rs []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 4 {
			fatalf("bad line from child process: %q", sc.Text())
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			fatalf("bad value from child process: %q", sc.Text())
		}
		rs = append(rs, result{f[0], v, f[3]})
	}
	return rs
}

// printMedians prints, for each measurement name in order of appearance, the
// median over all repetitions.
func printMedians(procs int, runs [][]result) {
	var names []string
	units := map[string]string{}
	values := map[string][]float64{}
	for _, run := range runs {
		for _, r := range run {
			if _, seen := units[r.name]; !seen {
				names = append(names, r.name)
				units[r.name] = r.unit
			}
			values[r.name] = append(values[r.name], r.value)
		}
	}
	for _, name := range names {
		unit := units[name]
		prec := 1
		if unit == "bytes" {
			prec = 0
		}
		fmt.Printf("%s,%d,%.*f,%s\n", name, procs, prec, median(values[name]), unit)
	}
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 0 {
		return (s[m-1] + s[m]) / 2
	}
	return s[m]
}

// procStatus returns a memory field of /proc/self/status (e.g. "VmRSS") in
// bytes.
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fatalf("reading /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, field+":"))
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb * 1024
	}
	fatalf("no usable %s line in /proc/self/status", field)
	return 0
}

func defaultProcs() string {
	if n := runtime.NumCPU(); n > 1 {
		return "1," + strconv.Itoa(n)
	}
	return "1"
}

func parseProcs(s string) ([]int, error) {
	var procs []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		procs = append(procs, p)
	}
	return procs, nil
}

func selectWorkloads(only string) ([]workload, error) {
	if only == "" {
		return workloads, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		want[strings.TrimSpace(name)] = true
	}
	var selected []workload
	for _, w := range workloads {
		if want[w.name] {
			selected = append(selected, w)
			delete(want, w.name)
		}
	}
	if len(want) > 0 {
		var names []string
		for _, w := range workloads {
			names = append(names, w.name)
		}
		var unknown []string
		for name := range want {
			unknown = append(unknown, name)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown workload(s) %s; known: %s",
			strings.Join(unknown, ","), strings.Join(names, ","))
	}
	return selected, nil
}

// scaled returns base*scale, at least 1.
func scaled(base int, scale float64) int {
	return max(int(float64(base)*scale), 1)
}

func perOp(name string, d time.Duration, ops int) result {
	return result{name, float64(d.Nanoseconds()) / float64(ops), "ns"}
}

func ms(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / 1e6
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func check(what string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("%s: got %d, want %d", what, got, want))
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cspbench: "+format+"\n", args...)
	os.Exit(2)
}
