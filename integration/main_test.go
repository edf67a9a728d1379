package integration

import (
	"context"
	"fmt"
	"os"
	"time"

	"testing"

	"github.com/shoal-dev/shoal/integration/harness"
)

// shoalBin is the node binary under test: $SHOAL_BIN when set, otherwise
// built from this module by TestMain.
var shoalBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if bin := os.Getenv("SHOAL_BIN"); bin != "" {
		shoalBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "shoal-integration-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := harness.BuildShoal(ctx, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot build the shoal binary, so no test here can run: %v\n", err)
		return 1
	}
	shoalBin = bin
	return m.Run()
}
