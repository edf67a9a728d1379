package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Inside is the node as its own machine sees it: its API on the container's
// loopback, reached through a socket opened in the container's network
// namespace. A test that caps a node's links with CapNetwork reads the
// node's metrics this way, so that the reading is not queued behind the
// traffic it measures (over the capped veth one /metrics took seconds, and
// a short window was missed). It needs root.
func (n *FleetNode) Inside(ctx context.Context) (*Node, error) {
	pid, err := n.Pid(ctx)
	if err != nil {
		return nil, err
	}
	if pid == 0 {
		return nil, fmt.Errorf("container %s is not running", n.Name)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialInNetns(ctx, pid, network, addr)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	return &Node{Addr: net.JoinHostPort("127.0.0.1", strings.TrimSuffix(RegistryPort, "/tcp")), Client: client}, nil
}

// dialInNetns opens a connection from the network namespace of process
// pid. A socket belongs to the namespace it was created in, whichever
// thread uses it later, so only its creation needs the thread switched.
func dialInNetns(ctx context.Context, pid int, network, addr string) (net.Conn, error) {
	target, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, err
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering the network namespace of %d: %w", pid, err)
	}
	var d net.Dialer
	conn, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and dies with this goroutine: it must
		// never run other goroutines in the container's namespace.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leaving the network namespace of %d: %w", pid, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}
