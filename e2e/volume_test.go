package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/volume"
)

// TestVolumeWriterPaths writes one tar stream into a fresh volume every way a
// volume.Writer can (straight into the volume's directory on this host, the
// pipe a local engine reads, the archive API a remote one needs) and reads back what the volume holds: owners, modes, times, content,
// links, and the volume root's own owner and mode. A stream cut short fails.
func TestVolumeWriterPaths(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + t.TempDir()}
	mustRun(t, env, "base", "build", "postgres")
	b, err := catalog.LookupBase("postgres")
	if err != nil {
		t.Fatal(err)
	}
	image := b.DebianRef()
	big := make([]byte, 20<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []*tar.Header{
		{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 999, Gid: 999, ModTime: when},
		{Name: "data/notes.txt", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 999, Gid: 998, ModTime: when, Size: 6},
		{Name: "data/sub/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000, ModTime: when},
		{Name: "data/sub/photo.bin", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1000, ModTime: when, Size: int64(len(big))},
		{Name: "data/latest", Typeflag: tar.TypeSymlink, Linkname: "sub/photo.bin", Mode: 0o777, Uid: 999, Gid: 999, ModTime: when},
	}
	content := map[string][]byte{"data/notes.txt": []byte("hello\n"), "data/sub/photo.bin": big}
	var stream bytes.Buffer
	tw := tar.NewWriter(&stream)
	for _, h := range want {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content[h.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	local := os.Getenv("DOCKER_HOST") == "" || strings.HasPrefix(os.Getenv("DOCKER_HOST"), "unix://")

	for _, mode := range []struct {
		name             string
		noDirect, noPipe bool
	}{{"direct", false, false}, {"pipe", true, false}, {"archive-api", true, true}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			vol := "stackctl-e2e-extract-" + mode.name
			api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true})
			t.Cleanup(func() { api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}) })
			e := &engine.Engine{API: api}
			// Its own helpers: the other tests run theirs beside it.
			mine := client.Filters{}.Add("label", volume.LabelHelper).Add("label", "io.stackctl.stack="+instanceOf(t))

			x, err := volume.StartWriter(ctx, e, image, map[string]string{"data": vol}, instanceOf(t), volume.Options{ArchiveAPI: mode.noPipe, NoDirect: mode.noDirect})
			if err != nil {
				t.Fatal(err)
			}
			// The image declares a VOLUME: the helper's anonymous volume must go with it.
			var anonymous []string
			helpers, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range helpers.Items {
				for _, m := range c.Mounts {
					if m.Type == "volume" && m.Name != vol {
						anonymous = append(anonymous, m.Name)
					}
				}
			}
			if err := x.WriteTar(ctx, bytes.NewReader(stream.Bytes())); err != nil {
				t.Fatal(err)
			}
			// Root on this host with a local engine: stackctl writes the volume's directory itself.
			if wantDirect := local && os.Geteuid() == 0 && !mode.noDirect; x.Direct() != wantDirect {
				t.Errorf("direct = %v, want %v (local engine: %v)", x.Direct(), wantDirect, local)
			}
			if wantPipe := local && !mode.noPipe; !x.Direct() && x.Piped() != wantPipe {
				t.Errorf("piped = %v, want %v (local engine: %v)", x.Piped(), wantPipe, local)
			}
			got := readVolume(t, api, image, vol)
			for _, h := range want {
				g, ok := got[h.Name]
				if !ok {
					t.Errorf("%s: missing from the volume", h.Name)
					continue
				}
				if g.hdr.Typeflag != h.Typeflag || g.hdr.Uid != h.Uid || g.hdr.Gid != h.Gid ||
					g.hdr.Mode&0o7777 != h.Mode || !g.hdr.ModTime.Equal(h.ModTime) || g.hdr.Linkname != h.Linkname {
					t.Errorf("%s: type %c %d:%d %o %s -> %q, want type %c %d:%d %o %s -> %q", h.Name,
						g.hdr.Typeflag, g.hdr.Uid, g.hdr.Gid, g.hdr.Mode&0o7777, g.hdr.ModTime, g.hdr.Linkname,
						h.Typeflag, h.Uid, h.Gid, h.Mode, h.ModTime, h.Linkname)
				}
				if c, ok := content[h.Name]; ok && g.sum != sha256.Sum256(c) {
					t.Errorf("%s: content differs", h.Name)
				}
			}
			// Cut short in the big file: tar must fail, and so must Extract.
			cut := stream.Bytes()[:stream.Len()/2]
			if err := x.WriteTar(ctx, bytes.NewReader(cut)); err == nil {
				t.Error("a stream cut short was extracted without an error")
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			left, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
			if err != nil {
				t.Fatal(err)
			}
			if len(left.Items) > 0 {
				t.Errorf("%d helper containers left after Close", len(left.Items))
			}
			for _, name := range volumeNames(t, api) {
				if slices.Contains(anonymous, name) {
					t.Errorf("volume %s left after Close", name)
				}
			}

		})
	}
}

type volumeFile struct {
	hdr *tar.Header
	sum [32]byte
}

// readVolume reads a volume's content through the archive API of a container
// that is created for it and never started, named as the extractor writes them.
func readVolume(t *testing.T, api client.APIClient, image, vol string) map[string]volumeFile {
	t.Helper()
	ctx := context.Background()
	c, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Entrypoint: []string{"/nonexistent"}},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/data"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	res, err := api.CopyFromContainer(ctx, c.ID, client.CopyFromContainerOptions{SourcePath: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Content.Close()
	files := map[string]volumeFile{}
	tr := tar.NewReader(res.Content)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = volumeFile{hdr: h, sum: sha256.Sum256(data)}
	}
}
