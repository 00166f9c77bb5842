package main

import (
	"sort"
	"strconv"
	"time"
)

// Outcome is one request's: its latency and either a failure or success — with its HTTP status in the http mode
// (a status of 300 or more is not a success), without one in the fabric mode.
type Outcome struct {
	Latency time.Duration
	Status  int
	Failure string
}

// Summary is what loadgen prints, in either mode; latencies in seconds.
type Summary struct {
	Requests   int            `json:"requests"`
	OK         int            `json:"ok"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput"`
	P50        float64        `json:"p50"`
	P90        float64        `json:"p90"`
	P99        float64        `json:"p99"`
	Max        float64        `json:"max"`
	Statuses   map[string]int `json:"statuses"`
	Failures   map[string]int `json:"failures"`
}

func summarize(results [][]Outcome, elapsed time.Duration) Summary {
	s := Summary{Seconds: elapsed.Seconds(), Statuses: map[string]int{}, Failures: map[string]int{}}
	var latencies []time.Duration
	for _, worker := range results {
		for _, o := range worker {
			s.Requests++
			latencies = append(latencies, o.Latency)
			if o.Failure != "" {
				s.Failures[o.Failure]++
				continue
			}
			if o.Status != 0 {
				s.Statuses[strconv.Itoa(o.Status)]++
			}
			if o.Status < 300 {
				s.OK++
			}
		}
	}
	if s.Seconds > 0 {
		s.Throughput = float64(s.OK) / s.Seconds
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	s.P50, s.P90, s.P99 = percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99)
	if len(latencies) > 0 {
		s.Max = latencies[len(latencies)-1].Seconds()
	}
	return s
}

// percentile of sorted latencies by the nearest-rank method.
func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1].Seconds()
}
