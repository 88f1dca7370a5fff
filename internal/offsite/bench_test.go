package offsite

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
)

// BenchmarkUpload times the upload of one archive to each target on loopback,
// from Create to a checked Commit. The size is STACKCTL_BENCH_UPLOAD_MIB
// (default 64); for the 1 GiB figure:
//
//	STACKCTL_BENCH_UPLOAD_MIB=1024 go test ./internal/offsite -run '^$' -bench Upload -benchtime 1x
func BenchmarkUpload(b *testing.B) {
	mib := 64
	if v := os.Getenv("STACKCTL_BENCH_UPLOAD_MIB"); v != "" {
		var err error
		if mib, err = strconv.Atoi(v); err != nil {
			b.Fatalf("STACKCTL_BENCH_UPLOAD_MIB=%q: %v", v, err)
		}
	}
	// Incompressible, as a zstd archive is; one MiB written over and over.
	chunk := payload(1<<20, 8)
	for _, kind := range kinds {
		b.Run(kind.name, func(b *testing.B) {
			b.SetBytes(int64(mib) << 20)
			target := open(b, kind.start(b), "bench")
			ctx := context.Background()
			i := 0
			for b.Loop() {
				name := archive.FileName("bench", taken.Add(time.Duration(i)*time.Second), false)
				i++
				up := create(ctx, b, target, name)
				for range mib {
					if _, err := up.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := up.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				if err := target.Remove(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
