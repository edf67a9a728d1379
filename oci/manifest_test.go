package oci

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestManifestPutGet(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{MaxManifestBytes: 4096})
	cfg := []byte(`{}`)
	layer := []byte("layer")
	e.reg.addBlob("foo", cfg, digest.SHA256)
	e.reg.addBlob("foo", layer, digest.SHA256)
	cfgD, layerD := desc(ocispec.MediaTypeImageConfig, cfg), desc(ocispec.MediaTypeImageLayerGzip, layer)
	img := imageManifest(cfgD, []ocispec.Descriptor{layerD}, nil, "")
	imgD := digest.FromBytes(img)
	missing := desc(ocispec.MediaTypeImageLayerGzip, []byte("not pushed"))
	nondist := desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", []byte("foreign"))
	foreign := desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", []byte("foreign2"))
	subject := desc(ocispec.MediaTypeImageManifest, []byte("some subject that is not here"))
	withSubject := imageManifest(ocispec.DescriptorEmptyJSON, nil, &subject, "application/example")
	e.reg.addBlob("foo", ocispec.DescriptorEmptyJSON.Data, digest.SHA256)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("absent").String() + `","size":12}]}`)
	docker := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + cfgD.Digest.String() + `","size":2},"layers":[]}`)
	noMediaType := []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + cfgD.Digest.String() + `","size":2},"layers":[]}`)
	sha512Img := imageManifest(cfgD, nil, nil, "")
	sha512D := digest.SHA512.FromBytes(sha512Img)

	tests := []struct {
		name, ref, ct string
		body          []byte
		status        int
		code          string
		digest        digest.Digest
	}{
		{"by tag", "v1", ocispec.MediaTypeImageManifest, img, 201, "", imgD},
		{"by digest", imgD.String(), ocispec.MediaTypeImageManifest, img, 201, "", imgD},
		{"sha512 digest", sha512D.String(), ocispec.MediaTypeImageManifest, sha512Img, 201, "", sha512D},
		{"content type with params", "p", ocispec.MediaTypeImageManifest + "; charset=utf-8", img, 201, "", imgD},
		{"no content type", "noct", "", img, 201, "", imgD},
		{"no media type anywhere", "nomt", "", noMediaType, 201, "", digest.FromBytes(noMediaType)},
		{"sparse index", "idx", ocispec.MediaTypeImageIndex, index, 201, "", digest.FromBytes(index)},
		{"docker v2", "docker", "application/vnd.docker.distribution.manifest.v2+json", docker, 201, "", digest.FromBytes(docker)},
		{"nondistributable layers need not exist", "nd", ocispec.MediaTypeImageManifest, imageManifest(cfgD, []ocispec.Descriptor{nondist, foreign}, nil, ""), 201, "", ""},
		{"subject", "subj", ocispec.MediaTypeImageManifest, withSubject, 201, "", digest.FromBytes(withSubject)},
		{"wrong digest", digest.FromString("x").String(), ocispec.MediaTypeImageManifest, img, 400, "DIGEST_INVALID", ""},
		{"sha512 ref with sha256 content digest", digest.SHA512.FromString("x").String(), ocispec.MediaTypeImageManifest, img, 400, "DIGEST_INVALID", ""},
		{"bad digest ref", "sha256:baddigeststring", ocispec.MediaTypeImageManifest, img, 400, "DIGEST_INVALID", ""},
		{"bad tag", "-bad", ocispec.MediaTypeImageManifest, img, 400, "MANIFEST_INVALID", ""},
		{"missing blob", "m", ocispec.MediaTypeImageManifest, imageManifest(cfgD, []ocispec.Descriptor{missing}, nil, ""), 400, "MANIFEST_BLOB_UNKNOWN", ""},
		{"missing config", "m", ocispec.MediaTypeImageManifest, imageManifest(missing, nil, nil, ""), 400, "MANIFEST_BLOB_UNKNOWN", ""},
		{"wrong blob size", "m", ocispec.MediaTypeImageManifest, imageManifest(ocispec.Descriptor{MediaType: "a/b", Digest: cfgD.Digest, Size: 3}, nil, nil, ""), 400, "MANIFEST_INVALID", ""},
		{"invalid JSON", "m", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,`), 400, "MANIFEST_INVALID", ""},
		{"not an object", "m", ocispec.MediaTypeImageManifest, []byte(`[1,2]`), 400, "MANIFEST_INVALID", ""},
		{"empty", "m", ocispec.MediaTypeImageManifest, []byte{}, 400, "MANIFEST_INVALID", ""},
		{"media type mismatch", "m", ocispec.MediaTypeImageIndex, img, 400, "MANIFEST_INVALID", ""},
		{"malformed content type", "m", "a/b; =", img, 400, "MANIFEST_INVALID", ""},
		{"schema 1", "m", "application/vnd.docker.distribution.manifest.v1+prettyjws", []byte(`{"schemaVersion":1,"fsLayers":[]}`), 400, "MANIFEST_INVALID", ""},
		{"schemaVersion 3", "m", "", []byte(`{"schemaVersion":3,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), 400, "MANIFEST_INVALID", ""},
		{"bad layer digest", "m", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + cfgD.Digest.String() + `","size":2},"layers":[{"mediaType":"a/b","digest":"sha256:nope","size":1}]}`), 400, "MANIFEST_INVALID", ""},
		{"too large", "big", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"annotations":{"a":"` + strings.Repeat("x", 5000) + `"}}`), 413, "SIZE_INVALID", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do("PUT", "/v2/foo/manifests/"+tc.ref, hdr{"Content-Type": tc.ct}, tc.body)
			if tc.status != 201 {
				wantError(t, rec, tc.status, tc.code)
				return
			}
			wantStatus(t, rec, 201)
			d := digest.Digest(rec.Header().Get("Docker-Content-Digest"))
			if tc.digest != "" && d != tc.digest {
				t.Fatalf("digest %s, want %s", d, tc.digest)
			}
			wantHeader(t, rec, "Location", "/v2/foo/manifests/"+d.String())
			for _, ref := range []string{tc.ref, d.String()} {
				get := e.do("GET", "/v2/foo/manifests/"+ref, nil, nil)
				wantStatus(t, get, 200)
				if get.Body.String() != string(tc.body) {
					t.Fatalf("GET %s body differs", ref)
				}
				wantHeader(t, get, "Docker-Content-Digest", d.String())
				wantHeader(t, get, "Content-Length", fmt.Sprint(len(tc.body)))
				head := e.do("HEAD", "/v2/foo/manifests/"+ref, nil, nil)
				wantStatus(t, head, 200)
				wantHeader(t, head, "Content-Type", get.Header().Get("Content-Type"))
				wantHeader(t, head, "Content-Length", fmt.Sprint(len(tc.body)))
				if head.Body.Len() != 0 {
					t.Fatal("HEAD has a body")
				}
			}
		})
	}
	// Stored media types.
	wantHeader(t, e.do("GET", "/v2/foo/manifests/p", nil, nil), "Content-Type", ocispec.MediaTypeImageManifest)
	wantHeader(t, e.do("GET", "/v2/foo/manifests/noct", nil, nil), "Content-Type", ocispec.MediaTypeImageManifest)
	wantHeader(t, e.do("GET", "/v2/foo/manifests/idx", nil, nil), "Content-Type", ocispec.MediaTypeImageIndex)
	wantHeader(t, e.do("GET", "/v2/foo/manifests/docker", nil, nil), "Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
	// OCI-Subject.
	rec := e.do("PUT", "/v2/foo/manifests/subj2", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, withSubject)
	wantHeader(t, rec, "OCI-Subject", subject.Digest.String())

	// Oversized by Content-Length alone.
	wantError(t, e.do("PUT", "/v2/foo/manifests/x", hdr{"Content-Length": "5000"}, img), 413, "SIZE_INVALID")
	// Body shorter than Content-Length.
	wantError(t, e.do("PUT", "/v2/foo/manifests/x", hdr{"Content-Length": fmt.Sprint(len(img) + 5), "Content-Type": ocispec.MediaTypeImageManifest}, img), 400, "SIZE_INVALID")
}

func TestManifestTagParamsAndDelete(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	img := e.pushImage("foo", "x")
	d := digest.FromBytes(img)
	rec := e.do("PUT", "/v2/foo/manifests/"+d.String()+"?tag=a&tag=b&tag=a", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, img)
	wantStatus(t, rec, 201)
	if got := rec.Header().Values("OCI-Tag"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("OCI-Tag %v", got)
	}
	wantStatus(t, e.do("GET", "/v2/foo/manifests/a", nil, nil), 200)
	wantStatus(t, e.do("GET", "/v2/foo/manifests/b", nil, nil), 200)
	wantError(t, e.do("PUT", "/v2/foo/manifests/"+d.String()+"?tag=-x", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, img), 400, "MANIFEST_INVALID")

	wantStatus(t, e.do("DELETE", "/v2/foo/manifests/a", nil, nil), 202)
	wantError(t, e.do("GET", "/v2/foo/manifests/a", nil, nil), 404, "MANIFEST_UNKNOWN")
	wantStatus(t, e.do("GET", "/v2/foo/manifests/b", nil, nil), 200)
	wantStatus(t, e.do("DELETE", "/v2/foo/manifests/"+d.String(), nil, nil), 202)
	wantError(t, e.do("GET", "/v2/foo/manifests/b", nil, nil), 404, "MANIFEST_UNKNOWN")
}

func TestManifestWarning(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	img := e.pushImage("foo", "w")
	wantStatus(t, e.do("PUT", "/v2/foo/manifests/w", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, img), 201)
	e.reg.repos["foo"].manifests[digest.FromBytes(img)].m.Warning = "stale \"tag\"\nupstream down"
	for _, m := range []string{"GET", "HEAD"} {
		wantHeader(t, e.do(m, "/v2/foo/manifests/w", nil, nil), "Warning", `299 - "stale \"tag\" upstream down"`)
	}
}

func TestReferrers(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	img := e.pushImage("foo", "s")
	wantStatus(t, e.do("PUT", "/v2/foo/manifests/s", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, img), 201)
	subj := desc(ocispec.MediaTypeImageManifest, img)
	e.reg.addBlob("foo", ocispec.DescriptorEmptyJSON.Data, digest.SHA256)
	sig := imageManifest(ocispec.DescriptorEmptyJSON, nil, &subj, "application/vnd.example.sig")
	sbomCfg := []byte(`{"sbom":true}`)
	e.reg.addBlob("foo", sbomCfg, digest.SHA256)
	sbom := imageManifest(desc("application/vnd.example.sbom", sbomCfg), nil, &subj, "")
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/vnd.example.idx","manifests":[],"subject":` + mustJSON(subj) + `}`)
	for _, m := range []struct {
		b  []byte
		mt string
	}{{sig, ocispec.MediaTypeImageManifest}, {sbom, ocispec.MediaTypeImageManifest}, {idx, ocispec.MediaTypeImageIndex}} {
		rec := e.do("PUT", "/v2/foo/manifests/"+digest.FromBytes(m.b).String(), hdr{"Content-Type": m.mt}, m.b)
		wantStatus(t, rec, 201)
		wantHeader(t, rec, "OCI-Subject", subj.Digest.String())
	}
	tests := []struct {
		query, filters string
		want           []string
	}{
		{"", "", []string{"application/vnd.example.idx", "application/vnd.example.sbom", "application/vnd.example.sig"}},
		{"?artifactType=application/vnd.example.sbom", "artifactType", []string{"application/vnd.example.sbom"}},
		{"?artifactType=application/vnd.example.idx", "artifactType", []string{"application/vnd.example.idx"}},
		{"?artifactType=none", "artifactType", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			rec := e.do("GET", "/v2/foo/referrers/"+subj.Digest.String()+tc.query, nil, nil)
			wantStatus(t, rec, 200)
			wantHeader(t, rec, "Content-Type", ocispec.MediaTypeImageIndex)
			wantHeader(t, rec, "OCI-Filters-Applied", tc.filters)
			var ix ocispec.Index
			if err := json.Unmarshal(rec.Body.Bytes(), &ix); err != nil {
				t.Fatal(err)
			}
			if ix.SchemaVersion != 2 || ix.MediaType != ocispec.MediaTypeImageIndex || !strings.Contains(rec.Body.String(), `"manifests":[`) {
				t.Fatalf("not an index: %s", rec.Body)
			}
			var got []string
			for _, m := range ix.Manifests {
				got = append(got, m.ArtifactType)
				if m.Size <= 0 || m.MediaType == "" {
					t.Fatalf("bad descriptor %+v", m)
				}
			}
			slicesSort(got)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Unknown subject: an empty index.
	rec := e.do("GET", "/v2/foo/referrers/"+digest.FromString("nothing").String(), nil, nil)
	wantStatus(t, rec, 200)
	if !strings.Contains(rec.Body.String(), `"manifests":[]`) {
		t.Fatalf("body %s", rec.Body)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseManifest(t *testing.T) {
	cfg := digest.FromString("cfg")
	l1 := digest.FromString("l1")
	tests := []struct {
		name, mt, body string
		wantMT, wantAT string
		blobs, kids    int
		subject        bool
		err            bool
	}{
		{"oci image", "", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"c/t","digest":"` + cfg.String() + `","size":1},"layers":[{"mediaType":"l","digest":"` + l1.String() + `","size":2}]}`, ocispec.MediaTypeImageManifest, "c/t", 2, 0, false, false},
		{"artifactType wins", "", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/t","config":{"mediaType":"c/t","digest":"` + cfg.String() + `","size":1},"layers":[],"subject":{"mediaType":"x","digest":"` + l1.String() + `","size":3}}`, ocispec.MediaTypeImageManifest, "a/t", 1, 0, true, false},
		{"docker list", MediaTypeDockerManifestList, `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"m","digest":"` + l1.String() + `","size":5}]}`, MediaTypeDockerManifestList, "", 0, 1, false, false},
		{"inferred index", "", `{"schemaVersion":2,"manifests":[]}`, ocispec.MediaTypeImageIndex, "", 0, 0, false, false},
		{"unknown type with layers", "application/x-custom", `{"layers":[{"mediaType":"l","digest":"` + l1.String() + `","size":2}]}`, "application/x-custom", "", 1, 0, false, false},
		{"unknown type with manifests", "application/x-custom", `{"manifests":[{"mediaType":"l","digest":"` + l1.String() + `","size":2}]}`, "application/x-custom", "", 0, 1, false, false},
		{"unknown opaque", "application/x-custom", `{"hello":1}`, "application/x-custom", "", 0, 0, false, false},
		{"oci image without config", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"layers":[]}`, "", "", 0, 0, false, true},
		{"index with layers", ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[],"layers":[]}`, "", "", 0, 0, false, true},
		{"image with manifests", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"mediaType":"c/t","digest":"` + cfg.String() + `","size":1},"manifests":[]}`, "", "", 0, 0, false, true},
		{"negative size", "", `{"schemaVersion":2,"config":{"mediaType":"c/t","digest":"` + cfg.String() + `","size":-1}}`, "", "", 0, 0, false, true},
		{"bad subject", "", `{"schemaVersion":2,"manifests":[],"subject":{"digest":"x"}}`, "", "", 0, 0, false, true},
		{"wrong field type", "", `{"schemaVersion":"2"}`, "", "", 0, 0, false, true},
		{"no schemaVersion", ocispec.MediaTypeImageIndex, `{"manifests":[]}`, "", "", 0, 0, false, true},
		{"null", "", `null`, "", "", 0, 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ParseManifest(tc.mt, []byte(tc.body))
			if tc.err {
				if err == nil {
					t.Fatalf("no error, info %+v", info)
				}
				var e *Error
				if !errorsAs(err, &e) || e.Code != "MANIFEST_INVALID" {
					t.Fatalf("error %v is not MANIFEST_INVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.MediaType != tc.wantMT || info.ArtifactType != tc.wantAT || len(info.Blobs) != tc.blobs || len(info.Manifests) != tc.kids || (info.Subject != nil) != tc.subject {
				t.Fatalf("info %+v", info)
			}
		})
	}
}
