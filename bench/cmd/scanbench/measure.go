package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// resetPeakRSS sets pid's VmHWM back to its current RSS (clear_refs 5,
// Linux 4.0+), so VmHWM read later is the peak of what happened since.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler reads VmRSS of a process every interval until stopped.
type rssSampler struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	peak    int64
	samples int
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := harness.ReadProcMem(pid); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, m.RSS)
				s.samples++
				s.mu.Unlock()
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

// Stop ends the sampling and returns the largest VmRSS seen and the number
// of samples.
func (s *rssSampler) Stop() (int64, int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples
}

// baselineResult is Debian's gzip and tar over the image's layer blobs.
type baselineResult struct {
	wall, cpu time.Duration
	entries   int
}

// gzipTarList runs `gzip -dc BLOB | tar -tf -` on every layer blob in
// order, as one would walk an image: the least work any scanner must do
// (decompress every layer and read every tar header). It returns the wall
// and CPU time (gzip and tar, user + system) and the tar entries listed.
func gzipTarList(ctx context.Context, blobs []string) (baselineResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var r baselineResult
	start := time.Now()
	for _, b := range blobs {
		cmd := exec.CommandContext(ctx, "bash", "-c", `set -o pipefail; gzip -dc -- "$1" | tar -tf -`, "bash", b)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.Output()
		if err != nil {
			return r, fmt.Errorf("gzip -dc %s | tar -t: %w", b, err)
		}
		r.entries += strings.Count(string(out), "\n")
		// The shell's rusage includes its waited-for children, gzip and tar.
		r.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	r.wall = time.Since(start)
	return r, nil
}
