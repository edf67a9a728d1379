package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/shoal-dev/shoal/adminapi"
)

// dnsPeers finds peers through a DNS name whose addresses are nodes (a
// Kubernetes headless Service): each address is asked for its status,
// which names its peer ID and p2p addresses.
func (n *Node) dnsPeers(name string) func(ctx context.Context) ([]peer.AddrInfo, error) {
	_, port, err := net.SplitHostPort(n.cfg.Listen)
	if err != nil || port == "" {
		port = "5000"
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The peer ID learnt here is checked by libp2p's handshake, so
		// the status document need not be trusted.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
	}
	scheme := n.URLScheme()
	return func(ctx context.Context) ([]peer.AddrInfo, error) {
		ips, err := net.DefaultResolver.LookupHost(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", name, err)
		}
		var (
			mu    sync.Mutex
			found []peer.AddrInfo
			wg    sync.WaitGroup
		)
		for _, ip := range ips {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ai, err := peerStatus(ctx, client, scheme+"://"+net.JoinHostPort(ip, port))
				if err != nil {
					n.log.Debug("asking a discovered node for its peer ID", "ip", ip, "err", err)
					return
				}
				mu.Lock()
				found = append(found, ai...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return found, nil
	}
}

func peerStatus(ctx context.Context, client *http.Client, base string) ([]peer.AddrInfo, error) {
	c, err := adminapi.New(base, client)
	if err != nil {
		return nil, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, a := range st.P2PAddrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		if ai, err := peer.AddrInfoFromP2pAddr(m); err == nil {
			out = append(out, *ai)
		}
	}
	return out, nil
}
