// Package benchrun is what the docker benchmark harnesses (rolloutbench,
// chaosbench) share about a run: its log lines, its cleanups, the tools
// it needs and the machine it ran on.
package benchrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// Logf prints a timestamped progress line to stderr; the report goes to
// stdout.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Cleanups run last-in first-out on a fresh context, whatever happened.
type Cleanups []func(context.Context) error

// Add registers f to run at the end.
func (c *Cleanups) Add(f func(context.Context) error) { *c = append(*c, f) }

// Run runs them all within timeout, logging each failure.
func (c Cleanups) Run(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i := len(c) - 1; i >= 0; i-- {
		if err := c[i](ctx); err != nil {
			Logf("cleanup: %v", err)
		}
	}
}

// NeedTools says which of tools is not on PATH.
func NeedTools(tools ...string) error {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	return nil
}

// Environment is the machine and the tools a run used.
type Environment struct {
	harness.HostInfo
	Registry, Shoal, Docker string
}

// Machine describes this machine, docker, Debian's docker-registry and
// the shoal binary bin.
func Machine(bin string) Environment {
	return Environment{
		HostInfo: harness.Host(),
		Registry: harness.CommandOutput("dpkg-query", "-W", "-f", "${Version}", "docker-registry"),
		Shoal:    harness.CommandOutput(bin, "version"),
		Docker:   harness.CommandOutput("docker", "version", "--format", "{{.Server.Version}}"),
	}
}
