// Rate limiting with a ticker, plain and bursty, after Go by Example's
// "Rate Limiting". rate_limiting.cpp is its port, line for line. The port
// prints each request's time since start in milliseconds, not the clock.
package main

import (
	"fmt"
	"time"
)

func main() {
	start := time.Now()

	// Five requests, served at most one per tick of 200ms.
	requests := make(chan int, 5)
	for i := 1; i <= 5; i++ {
		requests <- i
	}
	close(requests)

	limiter := time.Tick(200 * time.Millisecond)
	for req := range requests {
		<-limiter
		fmt.Println("request", req, time.Since(start))
	}

	// A bursty limiter: up to 3 requests at once, then one per tick.
	burstyLimiter := make(chan time.Time, 3)
	for i := 0; i < 3; i++ {
		burstyLimiter <- time.Now()
	}
	go func() {
		for t := range time.Tick(200 * time.Millisecond) {
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
		fmt.Println("bursty request", req, time.Since(start))
	}
}
