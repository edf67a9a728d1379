package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/node"
)

func newNodeCommand() *cobra.Command {
	var (
		cfg        node.Config
		nf         nodeFiles
		configFile string
		maxBytes   byteSize
		highMark   float64
		lowMark    float64
		logLevel   string
		logFormat  string
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a registry node",
		Long: `Run a registry node: an OCI registry that serves local repositories and
mirrors upstream registries, caching what it pulls.

Every flag can also be set as SHOAL_<FLAG> in the environment (e.g.
SHOAL_TAG_TTL=5m; repeatable flags take a comma-separated list) or as a key
in the YAML file given with --config (key = flag name). A flag beats the
environment, which beats the file.

Repository names: /v2/NAME/<repo>/... and /v2/<repo>/...?ns=NAME both mean
<repo> mirrored from the upstream rule NAME. /v2/<repo>/... with no rule is
a local repository that can be pushed to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyConfig(cmd.Flags(), configFile, os.Getenv); err != nil {
				return err
			}
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			cfg.CacheMaxBytes = int64(maxBytes)
			if err := checkWatermarks(highMark, lowMark); err != nil {
				return err
			}
			cfg.CacheHighWatermark, cfg.CacheLowWatermark = highMark/100, lowMark/100
			if !cmd.Flags().Changed("upstream-auth") {
				if home, err := os.UserHomeDir(); err == nil {
					nf.dockerConfig = filepath.Join(home, ".docker", "config.json")
				}
			}
			if err := nf.apply(&cfg); err != nil {
				return err
			}
			n, err := node.New(cfg, shoalVersion())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return n.ListenAndServe(ctx)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&configFile, "config", "", "a YAML file of flag values (key = flag name)")
	f.StringVar(&cfg.Listen, "listen", ":5000", "address of the OCI registry endpoint and the admin endpoints")
	f.StringVar(&cfg.DataDir, "data-dir", "./shoal-data", "directory for everything the node keeps: blobs, metadata, its peer key")
	f.StringArrayVar(&nf.upstreams, "upstream", []string{"docker.io=https://registry-1.docker.io"}, "an upstream rule NAME=URL: repositories under NAME/, and requests with ?ns=NAME, are mirrored from URL (repeatable; giving any replaces the default)")
	f.StringVar(&cfg.DefaultUpstream, "default-upstream", "", "the rule for reads that carry no ns and no rule prefix and name no local repository (a docker daemon's registry-mirrors)")
	f.StringArrayVar(&nf.upstreamAuth, "upstream-auth", nil, "NAME=FILE: credentials for an upstream rule, in docker config.json form (repeatable; default: ~/.docker/config.json where present)")
	f.DurationVar(&cfg.TagTTL, "tag-ttl", time.Minute, "how long a tag resolved upstream is trusted before it is checked again")
	f.StringArrayVar(&cfg.P2PListen, "p2p-listen", []string{"/ip4/0.0.0.0/tcp/5001"}, "multiaddr the libp2p host listens on (repeatable)")
	f.StringArrayVar(&cfg.Bootstrap, "bootstrap", nil, "a peer multiaddr ending in /p2p/<peer id> to join through (repeatable)")
	f.StringVar(&cfg.BootstrapDNS, "bootstrap-dns", "", "a DNS name (e.g. a Kubernetes headless Service) whose addresses are peers on the p2p port")
	f.BoolVar(&cfg.MDNS, "mdns", false, "find peers on the local network with mDNS")
	f.StringVar(&cfg.SwarmKey, "swarm-key", "", "a libp2p private-network key file: only nodes holding it can connect")
	f.BoolVar(&cfg.P2PTags, "p2p-tags", true, "when upstream cannot be reached, ask peers for the last digest of a tag")
	f.Var(&maxBytes, "cache-max-bytes", "the store's size limit (e.g. 50GiB), blobs and open uploads together; least recently used mirrored content is evicted past it, and upload bytes that still do not fit are refused; 0 means no limit")
	f.Float64Var(&highMark, "cache-high-watermark", 85, "percent of the data dir's filesystem used past which least recently used mirrored content is evicted (with or without --cache-max-bytes; pushed content never is); 0, with --cache-low-watermark 0, turns it off")
	f.Float64Var(&lowMark, "cache-low-watermark", 80, "percent of the data dir's filesystem used that eviction for --cache-high-watermark brings it down to")
	f.Int64Var(&cfg.MaxManifestBytes, "max-manifest-bytes", 4<<20, "the largest manifest accepted from a client or an upstream")
	f.StringVar(&nf.encryptionKey, "encryption-key", "", "a file of 32 random bytes (raw, hex or base64; e.g. head -c 32 /dev/urandom) that encrypts the store at rest; a store is created encrypted or not and always needs the same key")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "certificate file (PEM) to serve HTTPS")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "private key file (PEM) for --tls-cert")
	f.StringArrayVar(&nf.policyRoots, "policy-root", nil, "a public key trusted to sign access policies (repeatable); with none the node is open")
	f.StringVar(&nf.policy, "policy", "", "a signed policy to start with (one older than the policy the data dir holds is logged and ignored)")
	f.StringVar(&cfg.PolicyNetwork, "policy-network", "", "the policy network this node belongs to; policies for another are refused (default: the first accepted policy's)")
	f.DurationVar(&cfg.PolicyGrace, "policy-grace", node.DefaultPolicyGrace, "how long after the policy expires cached content it allowed is still served; upstream fetches stop at expiry, and after the grace everything is refused")
	f.BoolVar(&cfg.ScanOnPull, "scan-on-pull", true, "scan each image manifest the node stores for the first time (pulled or pushed) in the background, while a vulnerability database is loaded")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests in flight may take to finish after SIGTERM")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// checkWatermarks checks --cache-high-watermark and --cache-low-watermark
// (percent): both 0 (off), or 0 < low < high <= 100.
func checkWatermarks(high, low float64) error {
	if high == 0 && low == 0 {
		return nil
	}
	if !(high > 0 && high <= 100) || !(low > 0 && low < high) {
		return fmt.Errorf("--cache-high-watermark %v, --cache-low-watermark %v: want 0 < low < high <= 100 (percent of the filesystem used), or both 0 to turn them off", high, low)
	}
	return nil
}
