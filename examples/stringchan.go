// The stringchan program of "Developing an Embedded Job Queue With Golang -
// Part 1" (seed 001), the version with quitchan and done. stringchan.cpp is
// its port, line for line.
package main

import (
	"fmt"
)

func main() {
	stringchan := make(chan string)
	quitchan := make(chan bool)
	done := make(chan bool)

	go func() {
		for {
			select {
			case message := <-stringchan:
				fmt.Printf("Got a message from stringchan: %s\n", message)
			case <-quitchan:
				// We don't care what quitchan's value is here, we just return.
				done <- true
				return
			}
		}
	}()

	fmt.Printf("Adding some messages...\n")

	stringchan <- "Hello there."
	stringchan <- "Another message."
	stringchan <- "Yet another message."
	quitchan <- true

	<-done
	fmt.Printf("Exiting...\n")
}
