package archive

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// VerifyLayer reads a docker save layer's content from r (what Open
// returns, perhaps counted for progress) and checks it against the
// layer's diff_id. Layers are stored compressed: a compressed file as it
// is, a plain tar gzipped in the same pass that hashes it, into gz (which
// is not used for a compressed layer). Once VerifyLayer returns nil,
// Digest is the digest of the layer as it is stored: the file, or what
// was written to gz. A layer that does not match its diff_id is an
// ErrDigestMismatch.
func (b *Blob) VerifyLayer(r io.Reader, gz io.Writer) error {
	if b.DiffID == "" {
		return fmt.Errorf("blob %s is not a docker save layer", b.Label)
	}
	uncompressed := sha256.New()
	compressed := sha256.New()
	stored := &byteCounter{}
	switch b.Compression {
	case Uncompressed:
		if gz == nil {
			return fmt.Errorf("layer %s is a plain tar: it needs somewhere to be gzipped to", b.Label)
		}
		zw := gzip.NewWriter(io.MultiWriter(gz, compressed, stored))
		if _, err := io.Copy(zw, io.TeeReader(r, uncompressed)); err != nil {
			return fmt.Errorf("compressing layer %s: %w", b.Label, err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compressing layer %s: %w", b.Label, err)
		}
	default:
		tee := io.TeeReader(r, io.MultiWriter(compressed, stored))
		if err := decompress(uncompressed, tee, b.Compression); err != nil {
			return fmt.Errorf("layer %s: its %s stream is corrupt: %w", b.Label, b.Compression, err)
		}
		// Whatever follows the compressed stream is part of the blob.
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return fmt.Errorf("reading layer %s: %w", b.Label, err)
		}
	}
	if got := digest.NewDigest(digest.SHA256, uncompressed); got != b.DiffID {
		return &problem{kind: ErrDigestMismatch, msg: fmt.Sprintf("layer %s in the archive does not match its diff_id in the image config (its content is %s)", b.DiffID, got)}
	}
	b.Digest = digest.NewDigest(digest.SHA256, compressed)
	b.storedSize = stored.n
	b.verified = true
	return nil
}

func decompress(w io.Writer, r io.Reader, c Compression) error {
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	}
	return fmt.Errorf("unknown compression %q", c)
}

// byteCounter counts the bytes written to it.
type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
