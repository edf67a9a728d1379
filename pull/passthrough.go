package pull

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
)

// ErrCannotStore is the store's answer when it cannot take new content
// now (a full or failing disk, a size limit held by content that may not
// be evicted). The puller then serves the content straight from its
// source, checked against its digest, without storing it.
var ErrCannotStore = errors.New("the store cannot write")

// passThrough serves blob d from src without storing it, for the caller
// alone: a store that cannot write must not fail a pull that peers or
// upstream can serve. The bytes are hashed as they go, and the last one
// is held back until the whole blob has matched d.
func (p *Puller) passThrough(ctx context.Context, d digest.Digest, src BlobSource) (*oci.Blob, error) {
	body, size, err := src(ctx)
	if err == nil && body == nil {
		err = errors.New("source returned no body")
	}
	if err != nil {
		return nil, err
	}
	if size < 0 {
		// The client must be told the length; without a store to count
		// it in, the blob cannot be served.
		body.Close()
		return nil, fmt.Errorf("blob %s: its source did not say its size, and the store cannot write to count it", d)
	}
	p.metrics.passThrough.WithLabelValues("blob").Inc()
	p.log.Debug("passing a blob through without storing it", "digest", d, "size", size)
	v := &verifyingReader{body: body, d: d, size: size, h: d.Algorithm().Hash()}
	return &oci.Blob{Size: size, Content: v, Close: body.Close}, nil
}

// verifyingReader hands out a blob's bytes as they arrive from its source
// while hashing them, and never the last byte before the whole blob has
// matched its digest and size: a client sees a broken response, never a
// complete wrong blob.
type verifyingReader struct {
	body io.ReadCloser
	d    digest.Digest
	size int64
	h    hash.Hash
	// read is what came from body, off what was handed out (or skipped
	// by a Seek). held is the last byte, kept back until verified.
	read, off int64
	held      []byte
	done      bool // verified, and the held byte handed out
	err       error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if v.done {
		return 0, io.EOF
	}
	if v.read < v.size {
		// Read straight into p, keeping the blob's last byte back.
		want := min(int64(len(p)), v.size-v.read)
		n, err := v.body.Read(p[:want])
		v.h.Write(p[:n])
		v.read += int64(n)
		if v.read == v.size && n > 0 {
			v.held = []byte{p[n-1]}
			n--
		}
		v.off += int64(n)
		switch {
		case err == io.EOF && v.read < v.size:
			return n, v.fail(fmt.Errorf("%w: %s: got %d bytes, want %d", ErrDigestMismatch, v.d, v.read, v.size))
		case err != nil && err != io.EOF:
			return n, v.fail(err)
		case n > 0 || v.read < v.size:
			return n, nil
		}
	}
	// Every byte has arrived: check them, and a source sending more.
	if err := v.verify(); err != nil {
		return 0, v.fail(err)
	}
	v.done = true
	if len(v.held) == 0 {
		return 0, io.EOF // an empty blob
	}
	p[0] = v.held[0]
	v.off++
	return 1, nil
}

// verify checks the whole blob once it has arrived.
func (v *verifyingReader) verify() error {
	var extra [1]byte
	if n, _ := io.ReadFull(v.body, extra[:]); n > 0 {
		return fmt.Errorf("%w: %s: more than the declared %d bytes", ErrDigestMismatch, v.d, v.size)
	}
	got := digest.NewDigest(v.d.Algorithm(), v.h)
	ok := got == v.d
	if vf, isV := v.body.(Verifier); isV {
		vf.Verified(ok)
	}
	if !ok {
		return fmt.Errorf("%w: want %s, got %s", ErrDigestMismatch, v.d, got)
	}
	return nil
}

func (v *verifyingReader) fail(err error) error {
	v.err = err
	return err
}

// Seek serves ranges: forward only, the bytes skipped hashed like the
// others, since the digest is of the whole blob.
func (v *verifyingReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += v.off
	case io.SeekEnd:
		offset += v.size
	}
	if offset < v.off || offset > v.size {
		return v.off, fmt.Errorf("blob %s passed through from its source: cannot seek from byte %d to %d", v.d, v.off, offset)
	}
	if skip := offset - v.off; skip > 0 {
		if _, err := io.CopyN(io.Discard, v, skip); err != nil {
			return v.off, err
		}
	}
	return v.off, nil
}

// Err reports why the blob failed, after a Read has failed; the HTTP
// edge then breaks the response.
func (v *verifyingReader) Err() error { return v.err }
