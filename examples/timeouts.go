// Timeouts with select and time.After, after Go by Example's "Timeouts".
// timeouts.cpp is its port, line for line (its last part with recv_for, a
// select with time.After on one channel).
package main

import (
	"fmt"
	"time"
)

func main() {
	// A result that takes 2s against a 1s timeout: the timeout wins.
	c1 := make(chan string, 1) // buffered: the late sender does not block forever
	go func() {
		time.Sleep(2 * time.Second)
		c1 <- "result 1"
	}()
	select {
	case res := <-c1:
		fmt.Println(res)
	case <-time.After(1 * time.Second):
		fmt.Println("timeout 1")
	}

	// The same with a 3s timeout: the result wins.
	c2 := make(chan string, 1)
	go func() {
		time.Sleep(2 * time.Second)
		c2 <- "result 2"
	}()
	select {
	case res := <-c2:
		fmt.Println(res)
	case <-time.After(3 * time.Second):
		fmt.Println("timeout 2")
	}

	// The late result 1 did arrive: it waited in c1's buffer.
	fmt.Println("late:", <-c1)

	// Both races on one channel: a 1s timeout, then a 3s one.
	c3 := make(chan string, 1)
	go func() {
		time.Sleep(2 * time.Second)
		c3 <- "result 3"
	}()
	select {
	case res := <-c3:
		fmt.Println(res)
	case <-time.After(1 * time.Second):
		fmt.Println("timeout 3")
	}
	select {
	case res := <-c3:
		fmt.Println(res)
	case <-time.After(3 * time.Second):
		fmt.Println("timeout 4")
	}
}
