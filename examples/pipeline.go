// Pipelines with fan-out, fan-in and cancellation: gen -> sq (several) ->
// merge, after the Go blog's "Go Concurrency Patterns: Pipelines and
// cancellation". pipeline.cpp is its port, line for line.
//
// Added to the blog's program: a WaitGroup `running` that every stage's
// goroutine joins, so main can show that closing done stops them all.
package main

import (
	"fmt"
	"sync"
)

var running sync.WaitGroup

// gen sends nums on the channel it returns, then closes it; it gives up
// early once done is closed.
func gen(done <-chan struct{}, nums ...int) <-chan int {
	out := make(chan int)
	running.Add(1)
	go func() {
		defer running.Done()
		defer close(out)
		for _, n := range nums {
			select {
			case out <- n:
			case <-done:
				return
			}
		}
	}()
	return out
}

// sq sends the square of every value from in, until in closes or done does.
func sq(done <-chan struct{}, in <-chan int) <-chan int {
	out := make(chan int)
	running.Add(1)
	go func() {
		defer running.Done()
		defer close(out)
		for n := range in {
			select {
			case out <- n * n:
			case <-done:
				return
			}
		}
	}()
	return out
}

// merge fans in: one goroutine per input copies it to out; out closes when
// every input is exhausted or done closes.
func merge(done <-chan struct{}, cs ...<-chan int) <-chan int {
	var wg sync.WaitGroup
	out := make(chan int)

	output := func(c <-chan int) {
		defer running.Done()
		defer wg.Done()
		for n := range c {
			select {
			case out <- n:
			case <-done:
				return
			}
		}
	}
	wg.Add(len(cs))
	for _, c := range cs {
		running.Add(1)
		go output(c)
	}

	running.Add(1)
	go func() {
		defer running.Done()
		wg.Wait()
		close(out)
	}()
	return out
}

func main() {
	// Fan-out to three squarers, fan-in, and read everything.
	done := make(chan struct{})
	nums := make([]int, 100)
	for i := range nums {
		nums[i] = i + 1
	}
	in := gen(done, nums...)
	out := merge(done, sq(done, in), sq(done, in), sq(done, in))
	sum := 0
	for v := range out {
		sum += v
	}
	fmt.Println("sum of the squares of 1..100:", sum)
	close(done)
	running.Wait()

	// Cancellation: read one value, then close done; every stage returns.
	done = make(chan struct{})
	in = gen(done, 2, 3)
	c1 := sq(done, in)
	c2 := sq(done, in)
	out = merge(done, c1, c2)
	fmt.Println("first value:", <-out) // 4 or 9
	close(done)
	running.Wait()
	fmt.Println("every stage stopped")
}
