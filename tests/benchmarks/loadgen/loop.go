package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// closedLoop runs c workers until count requests or the duration: each sends one request, waits for its
// outcome, sends the next. send(w, i) sends request i of worker w (see requestIndex).
func closedLoop(concurrency, count, requests int, duration time.Duration, send func(worker, index int) Outcome) Summary {
	var sent atomic.Int64
	deadline := time.Now().Add(duration)
	results := make([][]Outcome, concurrency)
	started := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				if int(sent.Add(1)) > count {
					return
				}
				results[w] = append(results[w], send(w, requestIndex(w, k, concurrency, requests)))
			}
		}(w)
	}
	wg.Wait()
	return summarize(results, time.Since(started))
}

// requestIndex is the k-th request of worker w among n requests with c workers: w, w+c, w+2c, … below n, round
// and round. With one request per buyer and c ≤ n, no two workers ever send for the same buyer, so a buyer's
// purchases never run into each other (they would conflict on its balance and rights). With c > n, workers share.
func requestIndex(w, k, c, n int) int {
	if w >= n {
		return w % n
	}
	own := (n - w + c - 1) / c // indexes w, w+c, … below n
	return w + c*(k%own)
}
