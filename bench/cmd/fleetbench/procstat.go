package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/stat.
const clockTicks = 100

// cpuSeconds is the user and system CPU time pid has used, in seconds.
func cpuSeconds(pid int) (float64, error) {
	d, err := harness.ProcCPU(pid)
	return d.Seconds(), err
}

// rssSampler reads VmRSS of some processes every interval and keeps the
// largest value seen for each.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak map[int]int64
}

func sampleRSS(pids []int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: map[int]int64{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for _, pid := range pids {
				if m, err := harness.ReadProcMem(pid); err == nil {
					s.mu.Lock()
					s.peak[pid] = max(s.peak[pid], m.RSS)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak VmRSS of each pid.
func (s *rssSampler) Stop() map[int]int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int64, len(s.peak))
	for k, v := range s.peak {
		out[k] = v
	}
	return out
}

// machineBusySeconds is the CPU time all cores have spent busy (not idle
// or waiting on I/O) since boot, from /proc/stat.
func machineBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy float64
	// user nice system idle iowait irq softirq steal: skip idle, iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
		busy += x
	}
	return busy / clockTicks, nil
}
