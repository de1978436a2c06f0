// Rate limiting with a ticker, plain and bursty, after Go by Example's
// "Rate Limiting". rate_limiting.cpp is its port, line for line. Added to
// the original: each request's time since start (not the clock), and
// checks that no request is served before its tick.
package main

import (
	"fmt"
	"os"
	"time"
)

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintln(os.Stderr, "check failed:", what)
		os.Exit(1)
	}
}

func main() {
	start := time.Now()
	period := 200 * time.Millisecond

	// Five requests, served at most one per tick of 200ms.
	requests := make(chan int, 5)
	for i := 1; i <= 5; i++ {
		requests <- i
	}
	close(requests)

	limiterStart := time.Now()
	limiter := time.Tick(period)
	for req := range requests {
		<-limiter
		fmt.Printf("request %d %dms\n", req, time.Since(start).Milliseconds())
		check(!time.Now().Before(limiterStart.Add(time.Duration(req)*period)),
			"a request was served before its tick")
	}

	// A bursty limiter: up to 3 requests at once, then one per tick.
	burstyLimiter := make(chan time.Time, 3)
	for i := 0; i < 3; i++ {
		burstyLimiter <- time.Now()
	}
	burstyStart := time.Now()
	go func() {
		for t := range time.Tick(period) {
			burstyLimiter <- t
		}
	}()

	burstyRequests := make(chan int, 5)
	for i := 1; i <= 5; i++ {
		burstyRequests <- i
	}
	close(burstyRequests)
	for req := range burstyRequests {
		<-burstyLimiter
		fmt.Printf("bursty request %d %dms\n", req, time.Since(start).Milliseconds())
		// The first three take the burst's tokens; the rest wait for ticks.
		if req > 3 {
			check(!time.Now().Before(burstyStart.Add(time.Duration(req-3)*period)),
				"a bursty request beyond the burst was served before its tick")
		}
	}
	fmt.Println("no request was served before its tick")
}
