package node

import (
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/access"
	"github.com/shoal-dev/shoal/oci/upstream"
)

// DefaultPolicyGrace is how long after its policy expires a node still
// serves cached content the policy allowed.
const DefaultPolicyGrace = access.DefaultPolicyGrace

// Config is everything a node is started with, already parsed: cmd/shoal
// fills it from flags, the environment and a YAML file, and reads the
// files they name.
type Config struct {
	Listen  string
	DataDir string

	// Upstreams are the mirroring rules, with their credentials.
	Upstreams []upstream.Rule
	// DefaultUpstream names the rule reads of unknown repositories go to
	// ("" for none).
	DefaultUpstream string
	TagTTL          time.Duration

	P2PListen    []string
	Bootstrap    []string
	BootstrapDNS string
	MDNS         bool
	SwarmKey     string
	// P2PTags lets the node ask peers for a tag's last digest when
	// upstream cannot be reached.
	P2PTags bool

	CacheMaxBytes int64
	// CacheHighWatermark and CacheLowWatermark keep the filesystem under
	// the data dir from filling: past the high one (a fraction used),
	// least recently used mirrored content is evicted down to the low
	// one. Zero for both turns this off.
	CacheHighWatermark, CacheLowWatermark float64
	MaxManifestBytes                      int64
	// EncryptionKey encrypts the store at rest (see cache.ParseKey); nil
	// for no encryption.
	EncryptionKey []byte

	// TLSCert and TLSKey are the files of the HTTPS key pair ("" for plain
	// HTTP); they are reloaded when they change.
	TLSCert, TLSKey string

	// PolicyRoots are the keys trusted to sign policies; with none the
	// node is open.
	PolicyRoots []ed25519.PublicKey
	// Policy is a signed policy envelope to start with (nil for none).
	Policy []byte
	// PolicyNetwork pins the policy network ("" = the first accepted
	// policy's); PolicyGrace is how long cached content stays served after
	// the policy expires (0 = DefaultPolicyGrace).
	PolicyNetwork string
	PolicyGrace   time.Duration
	// clock replaces time.Now for the policy's expiry (tests).
	clock func() time.Time
	// trafficEvery replaces the traffic history's minute (tests).
	trafficEvery time.Duration

	// ScanOnPull queues a background vulnerability scan of each image
	// manifest the node stores for the first time, while a vulnerability
	// database is loaded.
	ScanOnPull bool

	// ShutdownTimeout bounds how long requests in flight may take to
	// finish after the node is told to stop.
	ShutdownTimeout time.Duration

	Logger *slog.Logger
}
