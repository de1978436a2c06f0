// The first stringchan program of "Developing an Embedded Job Queue With
// Golang - Part 1" (seed 001): main does not wait for the goroutine, so the
// last message may never be printed (the article's point).
// stringchan_nowait.cpp is its port, line for line.
package main

import (
	"fmt"
)

func main() {
	stringchan := make(chan string)

	go func() {
		for {
			select {
			case message := <-stringchan:
				fmt.Printf("Got a message from stringchan: %s\n", message)
			}
		}
	}()

	fmt.Printf("Adding some messages...\n")

	stringchan <- "Hello there."
	stringchan <- "Another message."
	stringchan <- "Yet another message."
}
