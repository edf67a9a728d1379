package cache

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store at real size (issue 11): how opening, eviction and warm GETs scale
// from a small store to one of 100,000 blobs and 20,000 manifests. Each
// image is a manifest, a config and four layers, mirrored into one of
// scaleRepos repositories and tagged. Blobs are small so the store builds
// in minutes; what is measured is per-blob work, not bytes.
//
//	go test ./cache -run '^$' -bench BenchmarkStoreScale -benchtime 1x -timeout 30m
//
// Each size reports open-s (median of three opens, page cache warm) and
// open-cpu-s (the CPU time they took, which a loaded machine inflates less),
// evict-s (evicting about 10% of the bytes under a new size limit, in
// bounded passes) and evict-pass-max-ms (the longest pass), and
// get-p50-us / get-p99-us (Holds, OpenBlob, read and Close of random blobs,
// what serving a warm mirrored blob asks of the store).
const (
	scaleBlobSize     = 512
	scaleBlobsPerImg  = 5
	scaleRepos        = 200
	scaleImagesPerTxn = 40 // badger's largest transaction is 15% of its 2 MiB memtable
	scaleGets         = 20000
)

func BenchmarkStoreScale(b *testing.B) {
	for _, images := range []int{200, 20000} {
		b.Run(fmt.Sprintf("blobs=%d", images*scaleBlobsPerImg), func(b *testing.B) {
			for range b.N {
				benchStoreScale(b, images)
			}
		})
	}
}

func benchStoreScale(b *testing.B, images int) {
	b.StopTimer()
	dir := b.TempDir()
	built := time.Now()
	held := buildScaleStore(b, dir, images)
	b.Logf("built %d images (%d blobs) in %v", images, images*(scaleBlobsPerImg+1), time.Since(built).Round(time.Millisecond))

	// Open: the median of three.
	var opens, cpus []time.Duration
	var total int64
	for range 3 {
		start, cpu := time.Now(), cpuTime()
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		opens = append(opens, time.Since(start))
		cpus = append(cpus, cpuTime()-cpu)
		total, _ = s.Usage()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(opens)
	slices.Sort(cpus)
	b.ReportMetric(opens[1].Seconds(), "open-s")
	b.ReportMetric(cpus[1].Seconds(), "open-cpu-s")

	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}

	// Warm GETs of random blobs.
	r := rand.New(rand.NewPCG(uint64(images), 7))
	get := func(h heldBlob) time.Duration {
		start := time.Now()
		if !s.Holds(h.repo, h.d) {
			b.Fatalf("%s does not hold %s", h.repo, h.d)
		}
		rd, err := s.OpenBlob(h.d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rd.Content); err != nil {
			b.Fatal(err)
		}
		rd.Close()
		return time.Since(start)
	}
	for range 1000 {
		get(held[r.IntN(len(held))])
	}
	lat := make([]time.Duration, scaleGets)
	for i := range lat {
		lat[i] = get(held[r.IntN(len(held))])
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "get-p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "get-p99-us")

	// Eviction down to 90% of the bytes (a reader's close would start
	// it in a store opened over its limit, so the GETs came first).
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = Open(dir, Options{MaxBytes: total - total/10}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	before, blobs := s.Usage()
	// The passes maybeEvict and the background goroutine run, timed
	// here one by one: the longest is how long eviction holds s.meta.
	var longest time.Duration
	passes := 0
	start := time.Now()
	pass := time.Now()
	s.meta.Lock()
	_, _, more := s.evictPassLocked(0) // maybeEvict's
	s.meta.Unlock()
	longest, passes = time.Since(pass), 1
	q := s.newEvictQueue() // evictRest's
	for ; more; passes++ {
		pass := time.Now()
		s.meta.Lock()
		_, _, more = s.evictQueuedLocked(q)
		s.meta.Unlock()
		longest = max(longest, time.Since(pass))
	}
	took := time.Since(start)
	after, left := s.Usage()
	b.ReportMetric(took.Seconds(), "evict-s")
	b.ReportMetric(longest.Seconds()*1e3, "evict-pass-max-ms")
	b.ReportMetric(float64(blobs-left), "evicted-blobs")
	b.Logf("evicted %d of %d blobs (%d → %d bytes) in %v, %d passes, the longest %v", blobs-left, blobs, before, after,
		took.Round(time.Millisecond), passes, longest.Round(time.Millisecond))
}

// cpuTime is the CPU time the process has used: on a shared machine it
// says what an operation costs better than the wall clock does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type heldBlob struct {
	repo string
	d    digest.Digest
}

// buildScaleStore writes images into a new store in dir through the
// store's own metadata code, in batches, and closes it. Files are written
// without fsync: durability is not what is measured.
func buildScaleStore(b *testing.B, dir string, images int) []heldBlob {
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var held []heldBlob
	write := func(body []byte) digest.Digest {
		d := digest.FromBytes(body)
		p := s.blobPath(d)
		if err := s.ensureBlobDir(p); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			b.Fatal(err)
		}
		return d
	}
	now := time.Now().UnixNano()
	for first := 0; first < images; first += scaleImagesPerTxn {
		type image struct {
			repo string
			rec  ManifestRecord
		}
		var batch []image
		for i := first; i < min(first+scaleImagesPerTxn, images); i++ {
			repo := fmt.Sprintf("docker.io/scale/repo%d", i%scaleRepos)
			rec := ManifestRecord{MediaType: ocispec.MediaTypeImageManifest}
			for j := range scaleBlobsPerImg {
				body, _ := content(scaleBlobSize, uint64(i*scaleBlobsPerImg+j))
				d := write(body)
				rec.Blobs = append(rec.Blobs, d)
				held = append(held, heldBlob{repo, d})
			}
			rec.Held = rec.Blobs
			body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"layers":%q}`, rec.MediaType, rec.Blobs)
			rec.Digest, rec.Size = write(body), int64(len(body))
			batch = append(batch, image{repo, rec})
		}
		s.meta.Lock()
		_, err := s.update(func(mt *metaTxn) error {
			for i, im := range batch {
				for _, d := range append(slices.Clone(im.rec.Blobs), im.rec.Digest) {
					size := int64(scaleBlobSize)
					if d == im.rec.Digest {
						size = im.rec.Size
					}
					if err := mt.txn.Set(key(kindBlob, string(d)), encodeBlobMeta(size, now+int64(first+i))); err != nil {
						return err
					}
				}
				if err := mt.link(im.repo, false, im.rec.Digest); err != nil {
					return err
				}
				if err := mt.putRecord(im.repo, &im.rec); err != nil {
					return err
				}
				if err := mt.setTag(im.repo, fmt.Sprintf("t%d", first+i), im.rec.Digest, now); err != nil {
					return err
				}
			}
			return nil
		})
		s.meta.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	return held
}
