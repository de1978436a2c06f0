// Context cancellation of a tree of goroutines: a root context, two
// subtrees (one with its own timeout), three workers in each. Cancelling
// the root stops everything below it; the subtree with a timeout stops on
// its own first. context_tree.cpp is its port, line for line.
package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

type report struct {
	name string
	err  error
}

// worker works in rounds until its context is done, then reports why.
func worker(ctx context.Context, name string, started, stopped *sync.WaitGroup, reports chan<- report) {
	defer stopped.Done()
	started.Done()
	rounds := 0
	for {
		select {
		case <-ctx.Done():
			reports <- report{name, ctx.Err()}
			return
		case <-time.After(10 * time.Millisecond):
			rounds++ // a round of work
		}
	}
}

// subtree starts three workers under ctx, named name.0 .. name.2.
func subtree(ctx context.Context, name string, started, stopped *sync.WaitGroup, reports chan<- report) {
	for i := 0; i < 3; i++ {
		started.Add(1)
		stopped.Add(1)
		go worker(ctx, fmt.Sprintf("%s.%d", name, i), started, stopped, reports)
	}
}

// printSorted prints n reports in name order (they arrive in any order).
func printSorted(reports <-chan report, n int) {
	var got []report
	for i := 0; i < n; i++ {
		got = append(got, <-reports)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].name < got[j].name })
	for _, r := range got {
		fmt.Printf("%s stopped: %v\n", r.name, r.err)
	}
}

func main() {
	reports := make(chan report, 6)
	var started, stoppedA, stoppedB sync.WaitGroup

	root, cancel := context.WithCancel(context.Background())
	a, cancelA := context.WithCancel(root)
	defer cancelA()
	b, cancelB := context.WithTimeout(root, 500*time.Millisecond)
	defer cancelB()

	subtree(a, "a", &started, &stoppedA, reports)
	subtree(b, "b", &started, &stoppedB, reports)
	started.Wait()
	fmt.Println("6 workers started")

	// b times out on its own; a keeps working.
	stoppedB.Wait()
	printSorted(reports, 3)
	fmt.Println("a still running:", a.Err() == nil)

	cancel() // the root: a and everything under it
	stoppedA.Wait()
	printSorted(reports, 3)
	fmt.Println("root:", root.Err(), "- every goroutine stopped")
}
