package main

import (
	"os"
	"testing"
)

// runMainEnv, set to 1, makes the test binary run the shoal command
// line instead of the tests, so a test can run the real command under a
// pseudo-terminal without building it first.
const runMainEnv = "SHOAL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
