package scanning

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/policy"
)

func TestKeyListed(t *testing.T) {
	key, id := testpeer.Key(t)
	other, otherID := testpeer.Key(t)
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		id      peer.ID
		entries []string
		want    bool
	}{
		{"no entries", id, nil, false},
		{"its peer ID", id, []string{otherID.String(), id.String()}, true},
		{"its peer ID with space around", id, []string{"  " + id.String() + "\n"}, true},
		{"another peer ID", id, []string{otherID.String()}, false},
		// The key listed in database_keys matches its own peer ID.
		{"its PEM key", id, []string{pemOf(t, key)}, true},
		{"its PEM key with space around", id, []string{"\n" + pemOf(t, key) + "\n\n"}, true},
		{"another PEM key", id, []string{pemOf(t, other)}, false},
		{"a PEM that does not parse", id, []string{"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"}, false},
		{"a non-ed25519 peer against PEM keys", secpID, []string{pemOf(t, key), pemOf(t, other)}, false},
		{"a non-ed25519 peer by its peer ID", secpID, []string{pemOf(t, key), secpID.String()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyListed(tc.id, tc.entries); got != tc.want {
				t.Errorf("keyListed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMaxReportAge(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name   string
		policy *policy.Policy
		want   time.Duration
	}{
		{"no policy", nil, DefaultMaxReportAge},
		{"no document", &policy.Policy{}, DefaultMaxReportAge},
		{"no scanning section", &policy.Policy{Document: &policy.Document{}}, DefaultMaxReportAge},
		{"unset", scanningPolicy(&policy.Scanning{}), DefaultMaxReportAge},
		{"an hour", scanningPolicy(&policy.Scanning{MaxReportAge: "1h"}), time.Hour},
		{"90m", scanningPolicy(&policy.Scanning{MaxReportAge: "90m"}), 90 * time.Minute},
		{"not a duration", scanningPolicy(&policy.Scanning{MaxReportAge: "a week"}), DefaultMaxReportAge},
		{"zero", scanningPolicy(&policy.Scanning{MaxReportAge: "0s"}), DefaultMaxReportAge},
		{"negative", scanningPolicy(&policy.Scanning{MaxReportAge: "-1h"}), DefaultMaxReportAge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.policy.Store(tc.policy)
			if got := e.s.maxReportAge(); got != tc.want {
				t.Errorf("maxReportAge = %s, want %s", got, tc.want)
			}
		})
	}
}

func scanningPolicy(sc *policy.Scanning) *policy.Policy {
	return &policy.Policy{Document: &policy.Document{Scanning: sc}}
}

// TestReportTrusted: a held report counts while its signer is trusted
// (the policy's scanners, else any fleet member) and it is younger than
// max_report_age, judged by the service's clock.
func TestReportTrusted(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEnv(t, envOptions{fleet: true, now: func() time.Time { return now }})
	self := e.s.key
	member, memberID := testpeer.Key(t)
	e.fleet.admit(memberID)
	stranger, strangerID := testpeer.Key(t)

	for _, tc := range []struct {
		name    string
		policy  *policy.Scanning // nil: an open node
		signer  crypto.PrivKey
		age     time.Duration
		wantWhy string // "" when trusted
	}{
		{"open node, its own report", nil, self, time.Minute, ""},
		{"open node, a fleet member's", nil, member, time.Minute, ""},
		{"open node, a stranger's", nil, stranger, time.Minute, "not a trusted scanner"},
		{"policy without scanners, a member's", &policy.Scanning{MaxReportAge: "1h"}, member, time.Minute, ""},
		{"policy without scanners, a stranger's", &policy.Scanning{MaxReportAge: "1h"}, stranger, time.Minute, "not a trusted scanner"},
		{"listed scanner by peer ID", &policy.Scanning{Scanners: []string{strangerID.String()}}, stranger, time.Minute, ""},
		{"listed scanner by PEM key", &policy.Scanning{Scanners: []string{pemOf(t, stranger)}}, stranger, time.Minute, ""},
		{"scanners listed, its own report is not", &policy.Scanning{Scanners: []string{strangerID.String()}}, self, time.Minute, "not a trusted scanner"},
		{"scanners listed, a member is not", &policy.Scanning{Scanners: []string{strangerID.String()}}, member, time.Minute, "not a trusted scanner"},
		{"younger than the default age", nil, self, DefaultMaxReportAge - time.Hour, ""},
		{"older than the default age", nil, self, DefaultMaxReportAge + time.Hour, "old, more than 168h0m0s"},
		{"younger than max_report_age", &policy.Scanning{MaxReportAge: "1h"}, self, 59 * time.Minute, ""},
		{"older than max_report_age", &policy.Scanning{MaxReportAge: "1h"}, self, 2 * time.Hour, "the report is 2h0m0s old, more than 1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policy == nil {
				e.policy.Store(nil)
			} else {
				e.setScanning(tc.policy)
			}
			img := digest.FromString(tc.name)
			h := heldBy(t, tc.signer, img, now.Add(-tc.age))
			ok, why := e.s.reportTrusted(h)
			if ok != (tc.wantWhy == "") || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("reportTrusted = %v, %q; want %q", ok, why, tc.wantWhy)
			}
			// What the gate asks: the held report, only while it counts.
			if !e.s.holdReport(h) {
				t.Fatal("the report was not held")
			}
			if got := e.s.Trusted(img); (got != nil) != ok || got != nil && got != h.report {
				t.Errorf("Trusted = %v, want the report: %v", got, ok)
			}
			if e.s.heldReport(img) != h {
				t.Error("the report is not held")
			}
		})
	}
}

func TestDBSignerTrusted(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	selfID := e.s.ID()
	_, memberID := testpeer.Key(t)
	e.fleet.admit(memberID)
	stranger, strangerID := testpeer.Key(t)
	dbKey, dbKeyID := testpeer.Key(t)

	type signer struct {
		id   peer.ID
		want bool
	}
	for _, tc := range []struct {
		name    string
		policy  *policy.Scanning
		signers map[string]signer
	}{
		{"open node: fleet members", nil, map[string]signer{
			"self": {selfID, true}, "member": {memberID, true}, "stranger": {strangerID, false}, "db key": {dbKeyID, false},
		}},
		{"database_keys: only those", &policy.Scanning{DatabaseKeys: []string{pemOf(t, dbKey)}}, map[string]signer{
			"self": {selfID, false}, "member": {memberID, false}, "stranger": {strangerID, false}, "db key": {dbKeyID, true},
		}},
		{"scanners: they sign databases too", &policy.Scanning{Scanners: []string{strangerID.String()}}, map[string]signer{
			"self": {selfID, false}, "member": {memberID, false}, "stranger": {strangerID, true}, "db key": {dbKeyID, false},
		}},
		{"scanners and database_keys", &policy.Scanning{Scanners: []string{pemOf(t, stranger)}, DatabaseKeys: []string{pemOf(t, dbKey)}}, map[string]signer{
			"self": {selfID, false}, "member": {memberID, false}, "stranger": {strangerID, true}, "db key": {dbKeyID, true},
		}},
		{"neither listed: fleet members", &policy.Scanning{MaxReportAge: "1h"}, map[string]signer{
			"self": {selfID, true}, "member": {memberID, true}, "stranger": {strangerID, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policy == nil {
				e.policy.Store(nil)
			} else {
				e.setScanning(tc.policy)
			}
			for name, s := range tc.signers {
				if got := e.s.dbSignerTrusted(s.id); got != s.want {
					t.Errorf("%s: dbSignerTrusted = %v, want %v", name, got, s.want)
				}
			}
		})
	}
}

func TestGates(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.setScanning(&policy.Scanning{Gates: []policy.ScanGate{
		{Repositories: []string{"debian/**"}, Severity: "CRITICAL"},
		{Repositories: []string{"docker.io/**", "alpine/*"}, Severity: "HIGH"},
		{Repositories: []string{"**"}, Severity: "LOW"},
	}})
	for _, tc := range []struct {
		repo string
		want []string // the gates' severities
	}{
		{"debian/app", []string{"CRITICAL", "LOW"}},
		{"debian/tools/app", []string{"CRITICAL", "LOW"}},
		{"alpine/app", []string{"HIGH", "LOW"}},
		{"docker.io/library/alpine", []string{"HIGH", "LOW"}},
		{"other", []string{"LOW"}},
		// The node's own vulnerability database is never gated.
		{vulnDBRepo, nil},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			var got []string
			for _, g := range e.s.Gates(tc.repo) {
				got = append(got, g.Severity)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Gates(%s) = %v, want %v", tc.repo, got, tc.want)
			}
		})
	}
	e.policy.Store(nil)
	if g := e.s.Gates("debian/app"); g != nil {
		t.Errorf("an open node's gates: %v", g)
	}
	e.setScanning(nil)
	if g := e.s.Gates("debian/app"); g != nil {
		t.Errorf("the gates of a policy without scanning: %v", g)
	}
}
