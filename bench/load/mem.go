package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
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
	for _, p := range processTree(m.pid) {
		st, err := readStatus(p)
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

func readStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) > 0 {
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			out[k] = n
		}
	}
	return out, sc.Err()
}

// processTree lists pid and its descendants from /proc/*/stat.
func processTree(root int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// The command name may contain spaces and parentheses; fields
		// after the last ')' are: state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		pid, err1 := strconv.Atoi(strings.Fields(s)[0])
		ppid, err2 := strconv.Atoi(fields[1])
		if err1 == nil && err2 == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}
