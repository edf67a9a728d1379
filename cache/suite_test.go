package cache

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"
)

// encryptedSuiteEnv, when set, makes every store of this package's tests
// encrypted: TestEncryptedSuite runs the whole suite again that way.
const encryptedSuiteEnv = "SHOAL_CACHE_TEST_ENCRYPTED"

// suiteKey is the key of every test store when the suite runs encrypted.
var suiteKey []byte

func TestMain(m *testing.M) {
	if os.Getenv(encryptedSuiteEnv) != "" {
		suiteKey = testKey(0)
	}
	os.Exit(m.Run())
}

// testKey returns a fixed key per seed.
func testKey(seed uint64) []byte {
	k, _ := content(KeySize, 7000+seed)
	return k
}

// testOptions adds the suite's key to opts unless they choose their own.
func testOptions(opts Options) Options {
	if suiteKey != nil && opts.EncryptionKey == nil {
		opts.EncryptionKey = suiteKey
	}
	return opts
}

// storedForm is what a blob file of content b holds in this suite's
// stores.
func storedForm(t testing.TB, b []byte) []byte {
	t.Helper()
	if suiteKey == nil {
		return b
	}
	return sealBytes(t, suiteKey, b)
}

// sealBytes encrypts b as a complete blob file under key.
func sealBytes(t testing.TB, key, b []byte) []byte {
	t.Helper()
	enc, err := newEncryption(key)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := enc.newFile()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sw, err := newSealWriter(&buf, fc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkStoredContent checks that a reader of a complete blob reads the
// file directly (sendfile) in a plain store and decrypts in an encrypted
// one.
func checkStoredContent(t testing.TB, r *Reader) {
	t.Helper()
	if !r.Complete() {
		t.Fatal("reader of a stored blob is not Complete")
	}
	_, isFile := r.Content.(*os.File)
	_, isSealed := r.Content.(*blobReader)
	switch {
	case suiteKey == nil && !isFile:
		t.Fatalf("Content is %T, want *os.File", r.Content)
	case suiteKey != nil && !isSealed:
		t.Fatalf("Content is %T, want *blobReader", r.Content)
	}
}

// TestEncryptedSuite runs every test of the package again with encrypted
// stores, in a child process of this test binary.
func TestEncryptedSuite(t *testing.T) {
	if suiteKey != nil {
		t.Skip("already the encrypted run")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	args := []string{"-test.run=^Test", "-test.skip=^TestEncryptedSuite$", "-test.count=1", "-test.timeout=10m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), encryptedSuiteEnv+"=1")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("encrypted run failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("encrypted run:\n%s", out)
	}
}
