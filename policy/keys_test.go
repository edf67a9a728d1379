package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyPairFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, pub, priv); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{PrivateKeyFile: 0o600, PublicKeyFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// The umask may narrow 0644 but never widen either mode.
		if fi.Mode().Perm()&^mode != 0 {
			t.Errorf("%s mode %v, want at most %v", name, fi.Mode().Perm(), mode)
		}
	}
	gotPriv, err := ReadPrivateKey(filepath.Join(dir, PrivateKeyFile))
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("ReadPrivateKey: %v", err)
	}
	gotPub, err := ReadPublicKey(filepath.Join(dir, PublicKeyFile))
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("ReadPublicKey: %v", err)
	}
	if id := KeyID(pub); len(id) != 64 {
		t.Fatalf("KeyID %q is not hex sha256", id)
	}
	// A second keygen into the same place must not destroy the key.
	pub2, priv2, _ := GenerateKey()
	if err := WriteKeyPair(dir, pub2, priv2); err == nil {
		t.Fatal("WriteKeyPair overwrote an existing private key")
	}
	if k, _ := ReadPrivateKey(filepath.Join(dir, PrivateKeyFile)); !k.Equal(priv) {
		t.Fatal("private key changed")
	}
}

func TestReadKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := GenerateKey()
	if err := WriteKeyPair(dir, pub, priv); err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	privPEM, _ := os.ReadFile(filepath.Join(dir, PrivateKeyFile))
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		read    func(string) error
		content []byte
		wantErr string
	}{
		{"private key as public", func(p string) error { _, err := ReadPublicKey(p); return err }, privPEM, `want "PUBLIC KEY"`},
		{"public key as private", func(p string) error { _, err := ReadPrivateKey(p); return err }, pubPEM, `want "PRIVATE KEY"`},
		{"two keys", func(p string) error { _, err := ReadPublicKey(p); return err }, append(append([]byte{}, pubPEM...), pubPEM...), "data after"},
		{"not pem", func(p string) error { _, err := ReadPublicKey(p); return err }, []byte("hello"), "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read(write(strings.ReplaceAll(tt.name, " ", "-"), tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
