// The dispatcher prototype of "Developing an Embedded Job Queue With Golang -
// Part 1" (seed 001), section III "Example", exactly as printed there (its
// data race on jobCounter and its never-made Quit channel included).
// dispatcher_prototype.cpp is its port, line for line; job_queue.cpp is the
// next step the article promises, on csp::dispatcher.
package main

import (
	"fmt"
	"time"
)

type Job struct {
	ID int
	F func() error
}

type Worker struct {
	ID int
	jobs chan *Job
	dispatchStatus chan *DispatchStatus
	Quit chan bool
}

func CreateNewWorker(id int, workerQueue chan *Worker, jobQueue chan *Job, dStatus chan *DispatchStatus) *Worker {
	w := &Worker{
		ID: id, 
		jobs: jobQueue,
		dispatchStatus: dStatus,
	}

	go func() { workerQueue <- w }()
	return w
}

func (w *Worker) Start() {
	go func() {
		for {
			select {
			case job := <- w.jobs:
				fmt.Printf("Worker[%d] executing job[%d].\n", w.ID, job.ID)
				job.F()
				w.dispatchStatus <- &DispatchStatus{Type: "worker", ID: w.ID, Status: "quit"}
				w.Quit <- true
			case <- w.Quit:
				return
			}
		}
	}()
}

type DispatchStatus struct {
	Type string
	ID int
	Status string
}

type Dispatcher struct {
	jobCounter int                      // internal counter for number of jobs
	jobQueue chan *Job                  // channel of jobs submitted by main()
	dispatchStatus chan *DispatchStatus // channel for job/worker status reports
	workQueue chan *Job                 // channel of work dispatched
	workerQueue chan *Worker            // channel of workers
}

func CreateNewDispatcher() *Dispatcher {
	d := &Dispatcher{
		jobCounter: 0,
		jobQueue: make(chan *Job),
		dispatchStatus: make(chan *DispatchStatus),
		workQueue: make(chan *Job),
		workerQueue: make(chan *Worker),
	}
	return d
}

type JobExecutable func() error

func (d *Dispatcher) Start(numWorkers int) {
	// Create numWorkers:
	for i := 0; i<numWorkers; i++ {
		worker := CreateNewWorker(i, d.workerQueue, d.workQueue, d.dispatchStatus)
		worker.Start()
	}

	// wait for work to be added then pass it off.
	go func() { 
		for {
			select {
			case job := <- d.jobQueue:
				fmt.Printf("Got a job in the queue to dispatch: %d\n", job.ID)
				// Sending it off;
				d.workQueue <- job
			case ds := <- d.dispatchStatus:
				fmt.Printf("Got a dispatch status:\n\tType[%s] - ID[%d] - Status[%s]\n", ds.Type, ds.ID, ds.Status)
				if ds.Type == "worker" {
					if ds.Status == "quit" {
						d.jobCounter--
					}
				}
			}
		}
	}()
}

func (d *Dispatcher) AddJob(je JobExecutable) {
	j := &Job{ID: d.jobCounter, F: je}
	go func() { d.jobQueue <- j }()
	d.jobCounter++
	fmt.Printf("jobCounter is now: %d\n", d.jobCounter)
}

func (d *Dispatcher) Finished() bool {
	if d.jobCounter < 1 {
		return true
	} else {
		return false
	}
}

func main() {
	job1 := func() error {
		fmt.Printf("job1: performing work.\n")
		time.Sleep(2 * time.Second)
		fmt.Printf("Work done.\n")
		return nil
	}

	job2 := func() error {
		fmt.Printf("job2: performing work.\n")
		time.Sleep(4 * time.Second)
		fmt.Printf("Work done.\n")
		return nil
	}

	d := CreateNewDispatcher()
	d.AddJob(job1)
	d.AddJob(job2)
	d.Start(2)

	for {
		if d.Finished() {
			fmt.Printf("All jobs finished.\n")
			break
		}
	}
}
