package main

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStatusWatch checks --watch --count 2: off a terminal, two
// snapshots one after the other, separated by a blank line, with no
// escape codes; on one, each snapshot starts by clearing the screen.
func TestStatusWatch(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(cannedNode{status: healthyStatus, metrics: healthyMetrics})
	defer srv.Close()
	for _, tt := range []struct {
		name         string
		terminal     bool
		clears, gaps int
	}{
		{name: "not a terminal", terminal: false, clears: 0, gaps: 1},
		{name: "a terminal", terminal: true, clears: 2, gaps: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runStatusAt(t, srv.URL, statusOptions{format: "table", watch: true, count: 2, interval: 10 * time.Millisecond, terminal: tt.terminal})
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(out, "NODE http"); n != 2 {
				t.Errorf("%d snapshots, want 2:\n%s", n, out)
			}
			if n := strings.Count(out, clearScreen); n != tt.clears {
				t.Errorf("%d screen clears, want %d", n, tt.clears)
			}
			if n := strings.Count(out, "\n\nNODE http"); n != tt.gaps {
				t.Errorf("%d blank lines between snapshots, want %d:\n%q", n, tt.gaps, out)
			}
		})
	}
}

// TestStatusWatchFailingNode checks that --watch shows a snapshot that
// failed and goes on, and that the command fails when its last one did.
func TestStatusWatchFailingNode(t *testing.T) {
	srv := httptest.NewServer(cannedNode{statusCode: 401})
	defer srv.Close()
	out, err := runStatusAt(t, srv.URL, statusOptions{format: "table", watch: true, count: 2, interval: 10 * time.Millisecond})
	if err == nil {
		t.Fatal("no error from a node that refused every snapshot")
	}
	if n := strings.Count(out, "answered 401 Unauthorized"); n != 2 {
		t.Errorf("%d refusals shown, want 2:\n%s", n, out)
	}
}

// TestStatusOnPseudoTerminal runs the real command under a
// pseudo-terminal (util-linux script) and checks that --watch redraws:
// the clear-screen escape, then the tables.
func TestStatusOnPseudoTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give the command a pseudo-terminal")
	}
	srv := httptest.NewServer(cannedNode{status: healthyStatus, metrics: healthyMetrics})
	defer srv.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmdline := shellQuote(self) + " status --node " + shellQuote(srv.URL) + " --watch --interval 20ms --count 2"
	cmd := exec.Command(script, "-qefc", cmdline, "/dev/null")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	if n := strings.Count(text, clearScreen); n != 2 {
		t.Errorf("%d screen clears, want 2:\n%q", n, text)
	}
	for _, want := range []string{"NODE " + srv.URL, "FLEET: 2 peer(s) connected", "store state", "POLICY"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%q", want, text)
		}
	}
	if i := strings.Index(text, clearScreen); i < 0 || !strings.HasPrefix(text[i+len(clearScreen):], "NODE ") {
		t.Errorf("a snapshot does not start right after the clear-screen escape:\n%q", text)
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestStatusFlags checks the flag combinations the command refuses
// before it calls the node.
func TestStatusFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "yaml"}, `--format "yaml": want table or json`},
		{[]string{"--watch", "--interval", "0s"}, "--interval 0s: want a positive duration"},
		{[]string{"--watch", "--count", "-1"}, "--count -1: want 0 (no limit) or more"},
		{[]string{"--count", "2"}, "--count needs --watch"},
		{[]string{"extra"}, `unknown command "extra"`},
	} {
		_, _, err := runShoal(t, append([]string{"status", "--node", "http://127.0.0.1:1"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("status %s: %v, want an error saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
