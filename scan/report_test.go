package scan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/dsse"
	"github.com/shoal-dev/shoal/internal/testpeer"
)

func testReport() *Report {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &Report{
		Image:     digest.FromString("image"),
		Platform:  "linux/amd64",
		DB:        digest.FromString("db"),
		DBUpdated: now.Add(-24 * time.Hour),
		Started:   now,
		Finished:  now.Add(time.Second),
		OS:        OSRelease{ID: "alpine", VersionID: "3.10.9", PrettyName: "Alpine Linux v3.10"},
		Packages:  14,
		Findings: []Finding{
			{ID: "CVE-2019-5747", Package: "busybox", Ecosystem: "Alpine:v3.10", Installed: "1.30.1-r1", Fixed: "1.30.1-r2", Severity: SeverityHigh},
			{ID: "CVE-2018-0000", Package: "musl", Ecosystem: "Alpine:v3.10", Installed: "1.1.22-r3", Severity: SeverityUnknown},
		},
	}
}

// resign re-signs an envelope's (possibly altered) payload with key.
func resign(t *testing.T, payload []byte, key crypto.PrivKey, keyID string) []byte {
	t.Helper()
	sig, err := key.Sign(dsse.PAE(PayloadType, payload))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload),
		Signatures: []signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func payloadOf(t *testing.T, env []byte) (envelope, map[string]any) {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(p, &st); err != nil {
		t.Fatal(err)
	}
	return e, st
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key, id := testpeer.Key(t)
	r := testReport()
	env, err := SignReport(r, key)
	if err != nil {
		t.Fatal(err)
	}
	if r.Scanner != id.String() {
		t.Fatalf("Scanner = %q, want the signer %s", r.Scanner, id)
	}
	got, signer, err := VerifyReport(env)
	if err != nil {
		t.Fatal(err)
	}
	if signer != id {
		t.Errorf("signer = %s, want %s", signer, id)
	}
	if got.Image != r.Image || got.DB != r.DB || len(got.Findings) != 2 || got.Findings[0].ID != "CVE-2019-5747" || !got.Finished.Equal(r.Finished) {
		t.Errorf("report changed in transit: %+v", got)
	}
	// The statement is what in-toto and cosign tools expect.
	e, st := payloadOf(t, env)
	if e.PayloadType != "application/vnd.in-toto+json" || e.Signatures[0].KeyID != id.String() {
		t.Errorf("envelope = %+v", e)
	}
	if st["_type"] != StatementType || st["predicateType"] != PredicateType {
		t.Errorf("statement header = %v %v", st["_type"], st["predicateType"])
	}
	subj := st["subject"].([]any)[0].(map[string]any)
	if subj["name"] != r.Image.String() || subj["digest"].(map[string]any)["sha256"] != r.Image.Encoded() {
		t.Errorf("subject = %v", subj)
	}
	pred := st["predicate"].(map[string]any)
	sc := pred["scanner"].(map[string]any)
	if sc["uri"] != ScannerURI || sc["db"].(map[string]any)["uri"] != DBURI || sc["db"].(map[string]any)["version"] != r.DB.String() {
		t.Errorf("predicate.scanner = %v", sc)
	}
	if _, ok := pred["invocation"]; !ok {
		t.Error("predicate has no invocation")
	}
	if md := pred["metadata"].(map[string]any); md["scanStartedOn"] != "2026-11-28T12:00:00Z" {
		t.Errorf("metadata = %v", md)
	}
}

func TestVerifyReportRefuses(t *testing.T) {
	key, id := testpeer.Key(t)
	other, otherID := testpeer.Key(t)
	env, err := SignReport(testReport(), key)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := payloadOf(t, env)
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)

	// A statement re-signed after editing (by the right key) is still
	// checked for its subject.
	edit := func(fn func(st map[string]any)) []byte {
		var st map[string]any
		if err := json.Unmarshal(payload, &st); err != nil {
			t.Fatal(err)
		}
		fn(st)
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := bytes.Replace(payload, []byte("CVE-2019-5747"), []byte("CVE-2019-0000"), 1)
	tamperedEnv := append([]byte(nil), env...)
	{
		var te envelope
		_ = json.Unmarshal(env, &te)
		te.Payload = base64.StdEncoding.EncodeToString(tampered)
		tamperedEnv, _ = json.Marshal(te)
	}

	for _, tc := range []struct {
		name string
		env  []byte
		want string
	}{
		{"tampered payload", tamperedEnv, "does not verify"},
		{"signed by another key under this keyid", resign(t, payload, other, id.String()), "does not verify"},
		{"wrong signer: report names another scanner", resign(t, payload, other, otherID.String()), "names scanner"},
		{"subject mismatch", resign(t, edit(func(st map[string]any) {
			st["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": digest.FromString("other").Encoded()}
		}), key, id.String()), "subject"},
		{"two subjects", resign(t, edit(func(st map[string]any) {
			s := st["subject"].([]any)
			st["subject"] = append(s, s[0])
		}), key, id.String()), "subject"},
		{"other predicate", resign(t, edit(func(st map[string]any) { st["predicateType"] = "https://slsa.dev/provenance/v1" }), key, id.String()), "predicate type"},
		{"keyid not a peer", resign(t, payload, key, "someone"), "not a peer ID"},
		{"not json", []byte("{"), "envelope"},
		{"no signatures", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`), "no signatures"},
		{"other payload type", []byte(`{"payloadType":"text/plain","payload":"e30=","signatures":[]}`), "payload type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := VerifyReport(tc.env)
			if err == nil {
				t.Fatal("verified")
			}
			if !errors.Is(err, ErrBadReport) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrBadReport mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSignReportChecksScanner(t *testing.T) {
	key, _ := testpeer.Key(t)
	_, other := testpeer.Key(t)
	r := testReport()
	r.Scanner = other.String()
	if _, err := SignReport(r, key); err == nil {
		t.Error("signed a report naming another scanner")
	}
	r = testReport()
	r.Image = "sha512:abc"
	if _, err := SignReport(r, key); err == nil {
		t.Error("signed a report about a non-sha256 digest")
	}
}

func TestWorst(t *testing.T) {
	r := testReport()
	f, ok := r.Worst()
	if !ok || f.ID != "CVE-2019-5747" {
		t.Errorf("Worst = %+v, %v", f, ok)
	}
	if _, ok := (&Report{}).Worst(); ok {
		t.Error("an empty report has a worst finding")
	}
}

func TestWriteSARIF(t *testing.T) {
	r := testReport()
	r.Findings = append(r.Findings, Finding{ID: "GO-2022-1059", Package: "golang.org/x/text", Ecosystem: "Go", Installed: "v0.3.5", Fixed: "0.3.8", Location: "/usr/bin/app", Severity: SeverityMedium})
	var b bytes.Buffer
	if err := WriteSARIF(&b, r); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "shoal" || len(log.Runs[0].Tool.Driver.Rules) != 3 {
		t.Fatalf("sarif = %s", b.String())
	}
	res := log.Runs[0].Results
	if len(res) != 3 || res[0].RuleID != "CVE-2019-5747" || res[0].Level != "error" || res[1].Level != "note" || res[2].Level != "warning" {
		t.Errorf("results = %+v", res)
	}
	if pl := res[2].Locations[0].PhysicalLocation; pl == nil || pl.ArtifactLocation.URI != "usr/bin/app" {
		t.Errorf("Go finding location = %+v", res[2].Locations)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, testReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Alpine Linux v3.10", "findings: 2 (critical 0, high 1", "HIGH      CVE-2019-5747  busybox", "1.30.1-r2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "CVE-2019-5747") > strings.Index(out, "CVE-2018-0000") {
		t.Errorf("not most severe first:\n%s", out)
	}
}

// Findings come grouped by ecosystem, the group holding the most severe
// finding first.
func TestWriteTableGroupsByEcosystem(t *testing.T) {
	r := testReport()
	r.Findings = append(r.Findings,
		Finding{ID: "PYSEC-2019-217", Package: "Jinja2", Ecosystem: "PyPI", Installed: "2.10", Fixed: "2.10.1", Severity: SeverityCritical, Location: "usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA"},
		Finding{ID: "GHSA-35jh-r3h4-6jhm", Package: "lodash", Ecosystem: "npm", Installed: "4.17.20", Fixed: "4.17.21", Severity: SeverityHigh},
		Finding{ID: "GHSA-aaaa-bbbb-cccc", Package: "Jinja2", Ecosystem: "PyPI", Installed: "2.10", Severity: SeverityLow})
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	order := []string{"PyPI: 2 findings", "PYSEC-2019-217", "GHSA-aaaa-bbbb-cccc", "Alpine:v3.10: 2 findings", "CVE-2019-5747", "CVE-2018-0000", "npm: 1 finding", "GHSA-35jh-r3h4-6jhm"}
	at := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i <= at {
			t.Fatalf("%q missing or out of order (want %q):\n%s", s, order, out)
		}
		at = i
	}
}

func FuzzVerifyReport(f *testing.F) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	env, err := SignReport(testReport(), k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"x","sig":""}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, signer, err := VerifyReport(b)
		if err != nil {
			return
		}
		// Whatever verifies names its signer as the scanner and has a
		// sha256 image.
		if r.Scanner != signer.String() || r.Image.Algorithm() != digest.SHA256 {
			t.Fatalf("verified an inconsistent report: %+v by %s", r, signer)
		}
	})
}
