package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/archive"
)

// interruptible is ctx ending on SIGINT or SIGTERM too.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}

func newImportCommand() *cobra.Command {
	var nodeURL, repo string
	cmd := &cobra.Command{
		Use:   "import [--node URL] [--repo NAME[:TAG]] FILE|DIR|-",
		Short: "Load an OCI image layout or a docker save tarball into a node",
		Long: `Load images into a node's store, where they are kept as local content (never
evicted) and served to clients like any other image.

FILE is a tar of an OCI image layout (as written by "shoal export", skopeo's
oci-archive or "docker save" since Docker 25) or a "docker save" tarball,
optionally gzip-compressed; DIR is an OCI image layout directory, tarred on
the fly; - reads the archive from standard input.

Each image goes to the repository its own name says: the RepoTags of a
docker save tarball, or the io.containerd.image.name or
org.opencontainers.image.ref.name annotation of an OCI layout. A name whose
first component is one of the node's upstream rules (docker.io, ghcr.io…)
lands in that mirror's namespace, so clients pulling through the mirror find
it even when the upstream cannot be reached; any other name is a local
repository. --repo puts every image in one repository instead (and with a
tag, tags the one image the archive holds).

Digests are checked on the node; an archive with any corrupt content is
refused whole and nothing of it is tagged. Progress goes to standard error,
one line per image imported ("REPO:TAG DIGEST") to standard output.`,
		Example: `  shoal import alpine.tar
  docker save myapp:1.0 | shoal import --repo myteam/myapp -
  shoal import --node http://10.0.0.5:5000 ./layout-dir`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runImport(ctx, api, repo, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	cmd.Flags().StringVar(&repo, "repo", "", "put every image in this repository (NAME, or NAME:TAG for an archive of one image), instead of the names in the archive")
	return cmd
}

// importSource is the archive to send: its tar bytes, and how much input
// there is to read, for progress.
type importSource struct {
	body  io.ReadCloser
	total int64
	read  *atomic.Int64
}

// openImportSource opens FILE (gunzipping it if needed), DIR (tarring it)
// or - (standard input).
func openImportSource(arg string, stdin io.Reader) (*importSource, error) {
	read := new(atomic.Int64)
	if arg == "-" {
		src, err := maybeGunzip(&countingReader{r: stdin, n: read})
		if err != nil {
			return nil, err
		}
		return &importSource{body: io.NopCloser(src), total: -1, read: read}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return tarLayoutDir(arg, read)
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, err
	}
	src, err := maybeGunzip(&countingReader{r: f, n: read})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return &importSource{body: readCloser{src, f}, total: fi.Size(), read: read}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// maybeGunzip decompresses r if it starts with the gzip magic.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("looks gzip-compressed but is not: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// tarLayoutDir streams a tar of the OCI image layout in dir.
func tarLayoutDir(dir string, read *atomic.Int64) (*importSource, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout (it has no oci-layout file)", dir)
	}
	type file struct {
		path, name string
		size       int64
	}
	var files []file
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Stat(p) // follows links: a layout's blobs may be linked in
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, file{p, filepath.ToSlash(rel), fi.Size()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, f := range files {
			if err := tarFile(tw, f.path, f.name, f.size, read); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return &importSource{body: pr, total: total, read: read}, nil
}

func tarFile(tw *tar.Writer, path, name string, size int64, read *atomic.Int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, &countingReader{r: f, n: read}, size); err != nil {
		return fmt.Errorf("%s changed while it was read: %w", path, err)
	}
	return nil
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func runImport(ctx context.Context, api *adminapi.Client, repo, arg string, stdout, stderr io.Writer) error {
	src, err := openImportSource(arg, os.Stdin)
	if err != nil {
		return err
	}
	defer src.body.Close()

	start := time.Now()
	upload := newProgress(stderr, "upload")
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				upload.Update("", src.read.Load(), src.total)
			}
		}
	}()
	uploaded := func() {
		close(done)
		upload.Update("", src.read.Load(), src.total)
		upload.Finish()
	}
	// The node answers once it has the whole archive: its first line ends
	// the upload.
	var prog progress
	final, err := api.Import(ctx, src.body, repo, func(l adminapi.ImageStreamLine) {
		if prog == nil {
			uploaded()
			prog = newProgress(stderr, "import")
		}
		if l.Blob != "" {
			prog.Update(l.Blob, l.Bytes, l.Total)
		}
		if l.Warning != "" {
			fmt.Fprintln(stderr, "warning:", l.Warning)
		}
	})
	if prog == nil {
		uploaded()
		if notSent(err) {
			return fmt.Errorf("sending %s to %s: %w", arg, api.BaseURL().Redacted(), err)
		}
	} else {
		prog.Finish()
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, img := range final.Imported {
		ref := img.Repo
		if img.Tag != "" {
			ref += ":" + img.Tag
		}
		fmt.Fprintf(stdout, "%s %s\n", ref, img.Digest)
	}
	fmt.Fprintf(stderr, "import: %d image(s) from %s in %s\n", len(final.Imported), arg, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func newPreloadCommand() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "preload [--node URL] REF...",
		Short: "Fetch images into a node ahead of a rollout",
		Long: `Make a node fetch images through its own mirror path, as a client's pull would:
the manifest, every platform of a multi-arch index, and every config and
layer. The node stores them, so later pulls (and, through the node, the
fleet) are served without going upstream.

REF is an image as the node serves it: RULE/REPOSITORY[:TAG|@DIGEST] where
RULE is one of the node's upstream rules (docker.io/library/alpine:3.20,
ghcr.io/org/image:1), or a name without a registry, which is read as a
client's pull of it would be (a local repository, or the --default-upstream).
A ref naming a registry the node has no rule for fails. The tag defaults to
latest.

Each ref preloaded is printed as "REF DIGEST" on standard output; progress and
failures go to standard error. The exit status is non-zero if any ref failed.`,
		Example: `  shoal preload docker.io/library/alpine:3.20 ghcr.io/org/app:1.4
  shoal preload --node http://10.0.0.5:5000 docker.io/library/nginx@sha256:…`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runPreload(ctx, api, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	return cmd
}

func runPreload(ctx context.Context, api *adminapi.Client, refs []string, stdout, stderr io.Writer) error {
	start := time.Now()
	var prog progress
	final, err := api.Preload(ctx, refs, func(l adminapi.ImageStreamLine) {
		if prog == nil {
			prog = newProgress(stderr, "preload")
		}
		if l.Blob != "" {
			prog.Update(l.Blob, l.Bytes, l.Total)
		}
		switch {
		case l.Ref != "" && l.Error != "":
			fmt.Fprintf(stderr, "preload: %s: %s\n", l.Ref, l.Error)
		case l.Ref != "":
			fmt.Fprintf(stdout, "%s %s\n", l.Ref, l.Digest)
		case l.Warning != "":
			fmt.Fprintln(stderr, "warning:", l.Warning)
		}
	})
	if prog != nil {
		prog.Finish()
	}
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	fmt.Fprintf(stderr, "preload: %d image(s) in %s\n", len(final.Preloaded), time.Since(start).Round(100*time.Millisecond))
	return nil
}

func newExportCommand() *cobra.Command {
	var nodeURL, out, platform string
	cmd := &cobra.Command{
		Use:   "export [--node URL] --out FILE REF...",
		Short: "Write images from a node to an OCI image layout tar",
		Long: `Pull images through a node's registry API and write them, whole, to one tar of
an OCI image layout: multi-arch indexes with every platform, every config
and layer (non-distributable layers excepted). Carry the file to another
site and load it with "shoal import", which restores the same names.

REF is an image as the node serves it: RULE/REPOSITORY[:TAG|@DIGEST] for a
mirrored image (docker.io/library/alpine:3.20; the node fetches it if it
does not hold it yet) or REPOSITORY[:TAG|@DIGEST] for a local one
(myteam/app:1.0). The tag defaults to latest. Each image is annotated with
org.opencontainers.image.ref.name = REF (and io.containerd.image.name when
REF starts with a registry host), so "ctr images import" and skopeo's
oci-archive name it too. The archive also holds the manifest.json that
"docker load" reads, naming each image REF (an image given by digest is
loaded untagged); of a multi-arch image, docker load loads the --platform
one.

Every blob is checked against its digest while it is written. The file is
written under a temporary name and renamed when complete; --out - writes the
tar to standard output.`,
		Example: `  shoal export --out images.tar docker.io/library/alpine:3.20 myteam/app:1.0
  shoal export --node https://shoal.example:5000 --out - ghcr.io/org/tool:2 | gzip > tool.tar.gz
  shoal export --platform linux/arm64 --out app.tar myteam/app:1.0 && docker load -i app.tar`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := nodeEndpoint(nodeURL)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out FILE is required (- for standard output)")
			}
			p, err := v1.ParsePlatform(platform)
			if err != nil || p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("--platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", platform)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runExport(ctx, base, out, args, *p, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	cmd.Flags().StringVarP(&out, "out", "o", "", "the tar file to write (- for standard output)")
	cmd.Flags().StringVar(&platform, "platform", defaultExportPlatform(), `the platform (OS/ARCH[/VARIANT]) of a multi-arch image that "docker load" loads; the archive holds every platform`)
	return cmd
}

// defaultExportPlatform is this machine's architecture under Linux, which
// is what docker runs images as.
func defaultExportPlatform() string { return "linux/" + runtime.GOARCH }

// exportBlob is one file of the layout: a manifest (bytes) or a blob
// pulled while it is written (layer).
type exportBlob struct {
	digest v1.Hash
	size   int64
	bytes  []byte
	layer  v1.Layer
}

// exportPlan is everything an export writes: index lists the images
// named on the command line, blobs everything they are made of.
type exportPlan struct {
	index []ocispec.Descriptor
	// docker are the images docker load loads, from manifest.json.
	docker []archive.DockerImage
	blobs  []exportBlob
	seen   map[v1.Hash]bool
	total  int64
}

func (p *exportPlan) add(b exportBlob) {
	if p.seen[b.digest] {
		return
	}
	p.seen[b.digest] = true
	p.blobs = append(p.blobs, b)
	p.total += b.size
}

// exportAnnotationName is REF with its tag made explicit.
func exportAnnotationName(ref name.Reference) string {
	repo := ref.Context().RepositoryStr()
	switch r := ref.(type) {
	case name.Digest:
		return repo + "@" + r.DigestStr()
	case name.Tag:
		return repo + ":" + r.TagStr()
	}
	return repo
}

func runExport(ctx context.Context, base *url.URL, out string, refs []string, platform v1.Platform, stdout, stderr io.Writer) error {
	var nameOpts []name.Option
	if base.Scheme == "http" {
		nameOpts = append(nameOpts, name.Insecure)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithUserAgent("shoal/" + shoalVersion())}
	start := time.Now()
	plan := &exportPlan{seen: map[v1.Hash]bool{}}
	for _, r := range refs {
		if strings.Contains(r, "://") {
			return fmt.Errorf("%s: give the image as the node serves it (e.g. docker.io/library/alpine:3.20), not a URL", r)
		}
		ref, err := name.ParseReference(base.Host+"/"+r, nameOpts...)
		if err != nil {
			return fmt.Errorf("%s: not an image reference: %w", r, err)
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		if err := plan.addManifest(desc, 0); err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		top := layoutDescriptor(desc.Descriptor)
		top.Annotations = archive.NameAnnotations(exportAnnotationName(ref))
		plan.index = append(plan.index, top)
		img, err := dockerLoadImage(desc, ref, platform)
		if err != nil {
			fmt.Fprintf(stderr, "warning: %s: docker load will not load it: %v\n", r, err)
			continue
		}
		plan.docker = append(plan.docker, img)
	}

	var w io.Writer = stdout
	var f *os.File
	if out != "-" {
		tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
		if err != nil {
			return err
		}
		f = tmp
		defer func() {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}()
		w = bufio.NewWriterSize(f, 1<<20)
	}
	prog := newProgress(stderr, "export")
	err := plan.write(w, prog)
	prog.Finish()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if f != nil {
		if err := w.(*bufio.Writer).Flush(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), out); err != nil {
			return err
		}
		f = nil
	}
	fmt.Fprintf(stderr, "export: %d image(s), %s, to %s in %s\n", len(plan.index), formatBytes(plan.total), out, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// addManifest plans desc's manifest and, recursively, what it references.
func (p *exportPlan) addManifest(desc *remote.Descriptor, depth int) error {
	if depth > 8 {
		return errors.New("indexes nested too deep")
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		return p.addIndex(idx, desc.Digest, desc.Manifest, depth)
	}
	img, err := desc.Image()
	if err != nil {
		return err
	}
	return p.addImage(img, desc.Digest, desc.Manifest)
}

func (p *exportPlan) addIndex(idx v1.ImageIndex, d v1.Hash, raw []byte, depth int) error {
	if depth > 8 {
		return errors.New("indexes nested too deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, c := range im.Manifests {
		switch {
		case c.MediaType.IsIndex():
			child, err := idx.ImageIndex(c.Digest)
			if err != nil {
				return fmt.Errorf("index %s: %w", c.Digest, err)
			}
			craw, err := child.RawManifest()
			if err != nil {
				return err
			}
			if err := p.addIndex(child, c.Digest, craw, depth+1); err != nil {
				return err
			}
		default:
			child, err := idx.Image(c.Digest)
			if err != nil {
				return fmt.Errorf("manifest %s: %w", c.Digest, err)
			}
			craw, err := child.RawManifest()
			if err != nil {
				return fmt.Errorf("manifest %s: %w", c.Digest, err)
			}
			if err := p.addImage(child, c.Digest, craw); err != nil {
				return fmt.Errorf("manifest %s: %w", c.Digest, err)
			}
		}
	}
	p.add(exportBlob{digest: d, size: int64(len(raw)), bytes: raw})
	return nil
}

func (p *exportPlan) addImage(img v1.Image, d v1.Hash, raw []byte) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	p.add(exportBlob{digest: m.Config.Digest, size: int64(len(cfg)), bytes: cfg})
	for _, l := range m.Layers {
		if !l.MediaType.IsDistributable() || l.MediaType == types.DockerForeignLayer {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		p.add(exportBlob{digest: l.Digest, size: l.Size, layer: layer})
	}
	p.add(exportBlob{digest: d, size: int64(len(raw)), bytes: raw})
	return nil
}

// layoutDescriptor is go-containerregistry's descriptor d as the
// image-spec one package archive takes (a platform's "features", which
// the image spec has no field for, is dropped).
func layoutDescriptor(d v1.Descriptor) ocispec.Descriptor {
	od := ocispec.Descriptor{
		MediaType:    string(d.MediaType),
		Digest:       digest.Digest(d.Digest.String()),
		Size:         d.Size,
		URLs:         d.URLs,
		Annotations:  d.Annotations,
		Data:         d.Data,
		ArtifactType: d.ArtifactType,
	}
	if p := d.Platform; p != nil {
		od.Platform = &ocispec.Platform{Architecture: p.Architecture, OS: p.OS, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures, Variant: p.Variant}
	}
	return od
}

// dockerLoadImage is the image of desc that docker load loads: desc
// itself, or the child of an index for platform, tagged REF unless REF
// is a digest (docker's tags hold none).
func dockerLoadImage(desc *remote.Descriptor, ref name.Reference, platform v1.Platform) (archive.DockerImage, error) {
	var tags []string
	if _, ok := ref.(name.Tag); ok {
		tags = []string{exportAnnotationName(ref)}
	}
	raw := desc.Manifest
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return archive.DockerImage{}, err
		}
		child, err := platformImage(idx, platform, 0)
		if err != nil {
			return archive.DockerImage{}, err
		}
		if raw, err = child.RawManifest(); err != nil {
			return archive.DockerImage{}, err
		}
	}
	return archive.DockerImageOf(raw, tags...)
}

// platformImage is the first image of idx (or of an index within it) for
// platform.
func platformImage(idx v1.ImageIndex, platform v1.Platform, depth int) (v1.Image, error) {
	if depth > 8 {
		return nil, errors.New("indexes nested too deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, c := range im.Manifests {
		switch {
		case c.MediaType.IsIndex():
			child, err := idx.ImageIndex(c.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := platformImage(child, platform, depth+1); err == nil {
				return img, nil
			}
		case c.MediaType.IsImage() && c.Platform != nil && c.Platform.Satisfies(platform):
			return idx.Image(c.Digest)
		}
	}
	return nil, fmt.Errorf("it has no image for %s (choose one with --platform)", platform)
}

// write writes the layout tar: the images of the index, then every blob,
// the layers pulled as they are written, and manifest.json.
func (p *exportPlan) write(w io.Writer, prog progress) error {
	lw, err := archive.NewWriter(w, p.index)
	if err != nil {
		return err
	}
	for _, img := range p.docker {
		if err := lw.AddDockerImage(img); err != nil {
			return err
		}
	}
	var done int64
	for _, b := range p.blobs {
		d := digest.Digest(b.digest.String())
		if b.layer == nil {
			if err := lw.WriteBlob(d, b.size, bytes.NewReader(b.bytes)); err != nil {
				return err
			}
			done += b.size
			prog.Update(b.digest.String(), done, p.total)
			continue
		}
		rc, err := b.layer.Compressed()
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.digest, err)
		}
		base := done
		read := new(atomic.Int64)
		stop := make(chan struct{})
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					prog.Update(b.digest.String(), base+read.Load(), p.total)
				}
			}
		}()
		err = lw.WriteBlob(d, b.size, &countingReader{r: rc, n: read})
		close(stop)
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("blob %s: %w", b.digest, cerr)
		}
		if err != nil {
			return err
		}
		done += b.size
		prog.Update(b.digest.String(), done, p.total)
	}
	return lw.Close()
}
