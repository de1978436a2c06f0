// Ping-pong: two players pass one ball over one channel, after Sameer
// Ajmani's talk "Advanced Go Concurrency Patterns". pingpong.cpp is its
// port, line for line.
package main

import (
	"fmt"
	"time"
)

type Ball struct{ hits int }

func main() {
	table := make(chan *Ball)
	go player("ping", table)
	go player("pong", table)

	table <- new(Ball) // game on; toss the ball
	time.Sleep(1 * time.Second)
	ball := <-table // game over; grab the ball
	fmt.Println("game over after", ball.hits, "hits")
}

func player(name string, table chan *Ball) {
	for {
		ball := <-table
		ball.hits++
		fmt.Println(name, ball.hits)
		time.Sleep(100 * time.Millisecond)
		table <- ball
	}
}
