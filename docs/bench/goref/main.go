// goref: the reference client of docs/benchmarks.md, written with the official Go client
// (nats.go) the way `nats bench` drives it, and doing the same work as `pier-bench bench`:
//
//	push: 1 publisher, N queue subscribers (queue group worker-group on jobs.process)
//	pull: 1 JetStream async publisher (at most 4096 acks outstanding) into stream LOGS
//	      (logs.>, file storage, R replicas), N workers fetching 128 (500 ms wait) from the
//	      durable pull consumer pull-worker and acknowledging every message, all at once
//
// Each client has its own connection; each role is spread round-robin over the URLs, as in
// pier-bench. It only counts (no stamps, no histogram, no exactly-once check) and prints one
// JSON object: throughput and the process's own CPU time per consumed message (getrusage).
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o goref docs/bench/goref
//	goref push|pull URL[,URL...] MSGS SUBS [REPLICAS]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	size      = 128
	batch     = 128
	ackWindow = 4096
	idle      = 5 * time.Second
)

type report struct {
	Mode             string  `json:"mode"`
	Messages         int64   `json:"messages"`
	Consumed         int64   `json:"consumed"`
	PublishedPerSec  float64 `json:"published_msgs_per_sec"`
	ConsumedPerSec   float64 `json:"consumed_msgs_per_sec"`
	CPUUserSeconds   float64 `json:"cpu_user_s"`
	CPUSystemSeconds float64 `json:"cpu_system_s"`
	CPUMicrosPerMsg  float64 `json:"cpu_us_per_msg"`
	Complete         bool    `json:"complete"`
}

func main() {
	if len(os.Args) < 5 {
		fail("usage: goref push|pull URL[,URL...] MSGS SUBS [REPLICAS]")
	}
	mode, urls := os.Args[1], strings.Split(os.Args[2], ",")
	msgs, err := strconv.ParseInt(os.Args[3], 10, 64)
	check(err)
	subs, err := strconv.Atoi(os.Args[4])
	check(err)
	replicas := 1
	if len(urls) >= 3 {
		replicas = 3
	}
	if len(os.Args) > 5 {
		replicas, err = strconv.Atoi(os.Args[5])
		check(err)
	}
	var r report
	switch mode {
	case "push":
		r = push(urls, msgs, subs)
	case "pull":
		r = pull(urls, msgs, subs, replicas)
	default:
		fail("mode is push or pull")
	}
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	r.Mode, r.Messages = mode, msgs
	r.CPUUserSeconds, r.CPUSystemSeconds = seconds(ru.Utime), seconds(ru.Stime)
	if r.Consumed > 0 {
		r.CPUMicrosPerMsg = (r.CPUUserSeconds + r.CPUSystemSeconds) * 1e6 / float64(r.Consumed)
	}
	r.Complete = r.Consumed == msgs
	check(json.NewEncoder(os.Stdout).Encode(r))
	if !r.Complete {
		os.Exit(1)
	}
}

func connect(urls []string, role string, index int) *nats.Conn {
	nc, err := nats.Connect(urls[index%len(urls)], nats.Name(fmt.Sprintf("goref %s-%d", role, index)))
	check(err)
	return nc
}

// consumedCounter counts deliveries and reads the clock once: when the last one arrives.
type consumedCounter struct {
	count  int64
	want   int64
	lastNs int64
}

func (c *consumedCounter) add(start time.Time) {
	if atomic.AddInt64(&c.count, 1) == c.want {
		atomic.StoreInt64(&c.lastNs, int64(time.Since(start)))
	}
}

// waitFor returns once want messages arrived or none arrived for `idle`.
func (c *consumedCounter) waitFor(want int64) {
	last, since := int64(-1), time.Now()
	for {
		n := atomic.LoadInt64(&c.count)
		if n >= want || time.Since(since) > idle {
			return
		}
		if n != last {
			last, since = n, time.Now()
		}
		time.Sleep(time.Millisecond)
	}
}

func rates(msgs int64, start time.Time, published time.Duration, c *consumedCounter) report {
	consumed, last := atomic.LoadInt64(&c.count), time.Duration(atomic.LoadInt64(&c.lastNs))
	if last == 0 { // not everything arrived: up to now
		last = time.Since(start)
	}
	return report{
		Consumed:        consumed,
		PublishedPerSec: float64(msgs) / published.Seconds(),
		ConsumedPerSec:  float64(consumed) / last.Seconds(),
	}
}

func push(urls []string, msgs int64, subs int) report {
	counter := consumedCounter{want: msgs}
	var start time.Time
	var conns []*nats.Conn
	for i := 0; i < subs; i++ {
		nc := connect(urls, "push-sub", i)
		sub, err := nc.QueueSubscribe("jobs.process", "worker-group", func(*nats.Msg) { counter.add(start) })
		check(err)
		check(sub.SetPendingLimits(-1, -1))
		check(nc.Flush())
		conns = append(conns, nc)
	}
	// Interest has to cross the routes before the first publish.
	time.Sleep(500 * time.Millisecond)
	pub := connect(urls, "push-pub", 0)
	payload := make([]byte, size)
	start = time.Now()
	for i := int64(0); i < msgs; i++ {
		check(pub.Publish("jobs.process", payload))
	}
	check(pub.Flush())
	published := time.Since(start)
	counter.waitFor(msgs)
	for _, nc := range append(conns, pub) {
		nc.Close()
	}
	return rates(msgs, start, published, &counter)
}

func pull(urls []string, msgs int64, subs, replicas int) report {
	admin := connect(urls, "pull-admin", 0)
	js, err := admin.JetStream()
	check(err)
	_, err = js.AddStream(&nats.StreamConfig{
		Name: "LOGS", Subjects: []string{"logs.>"}, Storage: nats.FileStorage, Replicas: replicas,
	})
	check(err)
	defer func() { check(js.DeleteStream("LOGS")) }()
	_, err = js.AddConsumer("LOGS", &nats.ConsumerConfig{
		Durable: "pull-worker", AckPolicy: nats.AckExplicitPolicy, DeliverPolicy: nats.DeliverNewPolicy,
		FilterSubject: "logs.bench", MaxAckPending: 50000,
	})
	check(err)

	counter := consumedCounter{want: msgs}
	var start time.Time
	var stop int32
	var workers sync.WaitGroup
	var conns []*nats.Conn
	for i := 0; i < subs; i++ {
		nc := connect(urls, "pull-worker", i)
		wjs, err := nc.JetStream()
		check(err)
		sub, err := wjs.PullSubscribe("logs.bench", "pull-worker", nats.Bind("LOGS", "pull-worker"))
		check(err)
		conns = append(conns, nc)
		workers.Add(1)
		go func() {
			defer workers.Done()
			for atomic.LoadInt32(&stop) == 0 {
				batch, _ := sub.Fetch(batch, nats.MaxWait(500*time.Millisecond))
				for _, m := range batch {
					check(m.Ack())
					counter.add(start)
				}
			}
		}()
	}
	pub := connect(urls, "pull-pub", 0)
	pjs, err := pub.JetStream(nats.PublishAsyncMaxPending(ackWindow))
	check(err)
	payload := make([]byte, size)
	start = time.Now()
	for i := int64(0); i < msgs; i++ {
		_, err := pjs.PublishAsync("logs.bench", payload)
		check(err)
	}
	<-pjs.PublishAsyncComplete()
	published := time.Since(start)
	counter.waitFor(msgs)
	atomic.StoreInt32(&stop, 1)
	workers.Wait()
	for _, nc := range append(conns, pub) {
		check(nc.Flush())
		nc.Close()
	}
	return rates(msgs, start, published, &counter)
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "goref:", message)
	os.Exit(2)
}
