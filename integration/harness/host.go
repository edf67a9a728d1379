package harness

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat on
// Linux.
const clockTicks = 100

// ProcCPU is the CPU time pid has used so far (user + system), from
// /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// HostInfo is what a benchmark report says of the machine.
type HostInfo struct {
	CPUs     int    // runtime.NumCPU, what nproc says
	Model    string // the CPU model /proc/cpuinfo names
	MemTotal string // /proc/meminfo's MemTotal, e.g. "24683664 kB"
	Kernel   string // uname -r
	Go       string // runtime.Version
}

// Host describes this machine.
func Host() HostInfo {
	h := HostInfo{CPUs: runtime.NumCPU(), Model: "unknown CPU", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				h.MemTotal = strings.Join(strings.Fields(strings.TrimPrefix(l, "MemTotal:")), " ")
			}
		}
	}
	h.Kernel = CommandOutput("uname", "-r")
	return h
}

// Machine describes the host for a benchmark report: CPU count and
// model, memory, kernel and Go version.
func Machine() string {
	h := Host()
	return fmt.Sprintf("Machine: %d CPUs (nproc), %s, MemTotal %s, Linux %s, %s", h.CPUs, h.Model, h.MemTotal, h.Kernel, h.Go)
}

// CommandOutput is what a command prints, trimmed, or "" if it fails: a
// tool's version for a report.
func CommandOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
