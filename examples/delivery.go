// The landscaping delivery business of seed 000 ("Practical STM: An Async
// Job Queue"), with channels instead of STM. The seed states the problem
// and its three requirements but shows no code; this Go program is ours,
// and delivery.cpp is its port, line for line.
//
// People phone in orders; several order takers write each one down (in the
// ledger) and put it on the delivery list; many drivers take orders off the
// list and deliver them. At the end the program proves the requirements:
// no order delivered twice, every order recorded, and no two drivers took
// the same order.
package main

import (
	"fmt"
	"math/rand"
	"os"
	"sync"
	"time"
)

type Order struct {
	ID    int
	Taker int
}

type Trip struct { // a driver's report: picked up or delivered
	Order  int
	Driver int
}

const numOrders, numTakers, numDrivers = 1000, 3, 100

// orderTaker records every call in the ledger, then puts it on the list.
func orderTaker(id int, calls <-chan int, ledger, list chan<- Order, wg *sync.WaitGroup) {
	defer wg.Done()
	for call := range calls {
		o := Order{ID: call, Taker: id}
		ledger <- o // recorded before anyone can deliver it
		list <- o
	}
}

// driver takes orders off the list until it is closed and empty.
func driver(id int, list <-chan Order, pickups, deliveries chan<- Trip, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewSource(int64(id)))
	for o := range list {
		pickups <- Trip{o.ID, id}
		time.Sleep(time.Duration(1+rng.Intn(3)) * time.Millisecond) // on the road
		deliveries <- Trip{o.ID, id}
	}
}

// countTrips counts the trips per order and remembers each order's driver;
// false if an order appears with two drivers.
func countTrips(trips <-chan Trip, count, driverOf []int) bool {
	oneDriver := true
	for t := range trips {
		count[t.Order]++
		if driverOf[t.Order] != 0 && driverOf[t.Order] != t.Driver {
			oneDriver = false
		}
		driverOf[t.Order] = t.Driver
	}
	return oneDriver
}

func main() {
	calls := make(chan int)                  // the phones
	ledger := make(chan Order, numOrders)    // the order book
	list := make(chan Order, 20)             // the delivery list
	pickups := make(chan Trip, numOrders)    // drivers' pick-up reports
	deliveries := make(chan Trip, numOrders) // drivers' delivery reports

	go func() {
		for i := 1; i <= numOrders; i++ {
			calls <- i
		}
		close(calls)
	}()

	var takers, drivers sync.WaitGroup
	for t := 1; t <= numTakers; t++ {
		takers.Add(1)
		go orderTaker(t, calls, ledger, list, &takers)
	}
	for d := 1; d <= numDrivers; d++ {
		drivers.Add(1)
		go driver(d, list, pickups, deliveries, &drivers)
	}
	takers.Wait()
	close(ledger)
	close(list)
	drivers.Wait()
	close(pickups)
	close(deliveries)

	// The proof.
	recorded := make([]int, numOrders+1)
	takenBy := make([]int, numTakers+1)
	for o := range ledger {
		recorded[o.ID]++
		takenBy[o.Taker]++
	}
	picked, pickedBy := make([]int, numOrders+1), make([]int, numOrders+1)
	delivered, deliveredBy := make([]int, numOrders+1), make([]int, numOrders+1)
	onePicker := countTrips(pickups, picked, pickedBy)
	oneDeliverer := countTrips(deliveries, delivered, deliveredBy)

	recordedOnce, pickedOnce, deliveredOnce, sameDriver := 0, 0, 0, 0
	for id := 1; id <= numOrders; id++ {
		recordedOnce += b2i(recorded[id] == 1)
		pickedOnce += b2i(picked[id] == 1)
		deliveredOnce += b2i(delivered[id] == 1)
		sameDriver += b2i(pickedBy[id] != 0 && pickedBy[id] == deliveredBy[id])
	}
	check(recordedOnce == numOrders, "an order was not recorded, or recorded twice")
	check(onePicker && pickedOnce == numOrders, "an order was picked up twice, or never")
	check(oneDeliverer && deliveredOnce == numOrders, "an order was delivered twice, or never")
	check(sameDriver == numOrders, "an order was delivered by a driver who did not pick it up")
	fmt.Printf("%d calls taken by %d order takers, delivered by %d drivers\n", numOrders, numTakers, numDrivers)
	fmt.Printf("proof: every one of the %d orders was recorded exactly once\n", recordedOnce)
	fmt.Println("proof: every order was picked up by exactly one driver")
	fmt.Println("proof: every order was delivered exactly once, by the driver who picked it up")
	busiest, working := 0, 0 // varies from run to run
	for d := 1; d <= numDrivers; d++ {
		n := 0
		for id := 1; id <= numOrders; id++ {
			n += b2i(deliveredBy[id] == d)
		}
		if n > busiest {
			busiest = n
		}
		working += b2i(n > 0)
	}
	fmt.Printf("%d drivers made deliveries, the busiest %d\n", working, busiest)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintln(os.Stderr, "check failed:", what)
		os.Exit(1)
	}
}
