package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/mltrack/mltrack/bench/internal/procmem"
)

// memSampler follows a process tree's resident memory. MLflow's server is a
// parent with worker processes, so a single pid would undercount it; both
// servers are measured as the sum over the pid and all its descendants.
type memSampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	peakRSS int64 // kB, the largest sampled sum of VmRSS
	hwm     map[int]int64
}

func startMemSampler(pid int, every time.Duration) *memSampler {
	m := &memSampler{pid: pid, done: make(chan struct{}), hwm: map[int]int64{}}
	m.sample()
	m.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				m.sample()
			}
		}
	})
	return m
}

func (m *memSampler) sample() {
	var sum int64
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range procmem.Tree(m.pid) {
		st, err := procmem.Status(p)
		if err != nil {
			continue // the process ended between listing and reading
		}
		sum += st["VmRSS"]
		// VmHWM is per process; a worker that exits takes its peak along,
		// so remember the last value seen for each pid.
		m.hwm[p] = max(m.hwm[p], st["VmHWM"])
	}
	m.peakRSS = max(m.peakRSS, sum)
}

// stop ends sampling and returns the peak sampled VmRSS sum and the sum of
// the processes' VmHWM, both in kB.
func (m *memSampler) stop() (int64, int64, error) {
	m.sample()
	close(m.done)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.hwm) == 0 {
		return 0, 0, fmt.Errorf("no readable /proc/%d/status", m.pid)
	}
	var hwm int64
	for _, v := range m.hwm {
		hwm += v
	}
	return m.peakRSS, hwm, nil
}
