package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/volume"
)

// BenchmarkVolumeWriter writes 256 MiB shaped like bench/backup.sh's volume
// (8 MiB files, half random bytes, half base64 text) into a new volume each
// way a volume.Writer can, on the real engine; MB/s of content. Each write
// goes into a fresh volume, removed after it; the page cache and the disk's
// writeback make single runs vary, so use -count:
//
//	STACKCTL_E2E=1 go test ./e2e -run '^$' -bench VolumeWriter -count 5
func BenchmarkVolumeWriter(b *testing.B) {
	api := dockerAPI(b)
	base, err := catalog.LookupBase("postgres")
	if err != nil {
		b.Fatal(err)
	}
	image := base.DebianRef()
	var stream bytes.Buffer
	tw := tar.NewWriter(&stream)
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 999, Gid: 999}); err != nil {
		b.Fatal(err)
	}
	for i := range 16 {
		random := make([]byte, 8<<20)
		text := make([]byte, 6<<20)
		if _, err := rand.Read(random); err != nil {
			b.Fatal(err)
		}
		if _, err := rand.Read(text); err != nil {
			b.Fatal(err)
		}
		for name, content := range map[string][]byte{
			fmt.Sprintf("data/photo-%d.bin", i):  random,
			fmt.Sprintf("data/export-%d.txt", i): []byte(base64.StdEncoding.EncodeToString(text))[:8<<20],
		} {
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), Uid: 999, Gid: 999}); err != nil {
				b.Fatal(err)
			}
			if _, err := tw.Write(content); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := &engine.Engine{API: api}
	for _, mode := range []struct {
		name string
		o    volume.Options
	}{{"direct", volume.Options{}}, {"pipe", volume.Options{NoDirect: true}}, {"archive-api", volume.Options{ArchiveAPI: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(256 << 20)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				vol := fmt.Sprintf("stackctl-e2e-bench-%s-%d", mode.name, i)
				x, err := volume.StartWriter(ctx, e, image, map[string]string{"data": vol}, "e2e", mode.o)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				err = x.WriteTar(ctx, bytes.NewReader(stream.Bytes()))
				b.StopTimer()
				x.Close()
				api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
