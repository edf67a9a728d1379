package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NodeConfig says how to start a shoal node.
type NodeConfig struct {
	// Bin is the shoal binary.
	Bin string
	// DataDir is --data-dir; it is created when missing.
	DataDir string
	// Port is the --listen port on 127.0.0.1; 0 picks a free one.
	Port int
	// Upstreams are NAME=URL rules for --upstream.
	Upstreams []string
	// Args are any further flags.
	Args []string
	// LogDir receives the node's log; DataDir's parent when empty.
	LogDir string
	// LogLevel is --log-level; "info" when empty.
	LogLevel string
}

// Node is a running shoal node.
type Node struct {
	*Proc
	Config NodeConfig
	Addr   string
	Port   int
	// Client reaches Addr; http.DefaultClient when nil.
	Client *http.Client
}

// URL is the node's base URL.
func (n *Node) URL() string { return "http://" + n.Addr }

// StartNode starts `shoal node` on loopback and waits for /readyz. The p2p
// host listens on a free loopback port so nodes never see each other unless
// a test joins them.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	port := cfg.Port
	var err error
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	p2pPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	level := cfg.LogLevel
	if level == "" {
		level = "info"
	}
	args := []string{"node",
		"--listen", addr,
		"--data-dir", cfg.DataDir,
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPort),
		"--log-level", level,
	}
	for _, u := range cfg.Upstreams {
		args = append(args, "--upstream", u)
	}
	args = append(args, cfg.Args...)
	logDir := cfg.LogDir
	if logDir == "" {
		logDir = filepath.Dir(filepath.Clean(cfg.DataDir))
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("shoal-%d-%d.log", port, time.Now().UnixNano()))
	p, err := StartProc(cfg.Bin, logPath, args...)
	if err != nil {
		return nil, err
	}
	cfg.Port = port
	n := &Node{Proc: p, Config: cfg, Addr: addr, Port: port}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, p, n.URL()+"/readyz", 200); err != nil {
		p.Kill()
		return nil, fmt.Errorf("shoal %s: %w", strings.Join(args, " "), err)
	}
	return n, nil
}

// Restart starts the same node again on the same port and data dir, after
// the old process has ended.
func (n *Node) Restart(ctx context.Context) (*Node, error) {
	if !n.Exited() {
		return nil, fmt.Errorf("node pid %d still running", n.PID())
	}
	return StartNode(ctx, n.Config)
}

// Status fetches /shoal/v1/status as generic JSON.
func (n *Node) Status(ctx context.Context) (map[string]any, error) {
	body, err := n.get(ctx, "/shoal/v1/status")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("/shoal/v1/status: %w: %s", err, body)
	}
	return m, nil
}

// CacheBytes is cache.bytes from /shoal/v1/status.
func (n *Node) CacheBytes(ctx context.Context) (int64, error) {
	m, err := n.Status(ctx)
	if err != nil {
		return 0, err
	}
	c, ok := m["cache"].(map[string]any)
	if !ok {
		return 0, fmt.Errorf("/shoal/v1/status has no cache object: %v", m)
	}
	b, ok := c["bytes"].(float64)
	if !ok {
		return 0, fmt.Errorf("/shoal/v1/status has no numeric cache.bytes: %v", c)
	}
	return int64(b), nil
}

// Metrics fetches /metrics and returns every sample keyed by its series
// name with labels as printed, e.g. `shoal_fetched_bytes_total{source="upstream"}`.
func (n *Node) Metrics(ctx context.Context) (map[string]float64, error) {
	body, err := n.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(string(body)), nil
}

// Metric returns the value of one series, e.g.
// Metric(ctx, "shoal_fetched_bytes_total", `source="upstream"`); a missing
// series is 0.
func (n *Node) Metric(ctx context.Context, name, label string) (float64, error) {
	m, err := n.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	return Series(m, name, label), nil
}

// Series sums the samples of name whose labels contain label ("" for all).
func Series(m map[string]float64, name, label string) float64 {
	var sum float64
	for k, v := range m {
		series, labels, _ := strings.Cut(k, "{")
		if series != name {
			continue
		}
		if label == "" || strings.Contains(labels, label) {
			sum += v
		}
	}
	return sum
}

// ParseMetrics reads Prometheus text exposition into series → value.
func ParseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The value follows the last space outside the label braces; an
		// optional timestamp may follow it.
		end := strings.LastIndexByte(line, '}')
		rest := line
		key := ""
		if end >= 0 {
			key, rest = line[:end+1], strings.TrimSpace(line[end+1:])
		} else {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			key, rest = f[0], strings.Join(f[1:], " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[key] = v
	}
	return m
}

func (n *Node) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+path, nil)
	if err != nil {
		return nil, err
	}
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// ProcMem is a process's memory use from /proc/<pid>/status, in bytes.
type ProcMem struct {
	// HWM is VmHWM, the peak resident set size.
	HWM int64
	// RSS is VmRSS, the resident set size now.
	RSS int64
}

// ReadProcMem reads VmHWM and VmRSS of pid.
func ReadProcMem(pid int) (ProcMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMem{}, err
	}
	defer f.Close()
	var pm ProcMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			pm.HWM = kb * 1024
		case "VmRSS":
			pm.RSS = kb * 1024
		}
	}
	return pm, sc.Err()
}
