package layer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkApply unpacks the layer file named by PCR_BENCH_LAYER (tar, tar.gz or tar.zst; see
// bench/layer-unpack.sh, which sets it and times tar -x on the same file), or a synthetic layer
// of small and large files. MB/s is of the uncompressed tar, like tar's own throughput.
func BenchmarkApply(b *testing.B) {
	requireRoot(b)
	var blob []byte
	if p := os.Getenv("PCR_BENCH_LAYER"); p != "" {
		var err error
		if blob, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	} else {
		blob = syntheticLayer(b)
	}
	work := b.TempDir()
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := filepath.Join(work, fmt.Sprint(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		a, err := Apply(bytes.NewReader(blob), d, ApplyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		size = a.Size
		os.RemoveAll(d)
		b.StartTimer()
	}
	b.SetBytes(size)
}

func syntheticLayer(b *testing.B) []byte {
	var ents []ent
	for d := 0; d < 50; d++ {
		dir := fmt.Sprintf("usr/share/d%02d/", d)
		ents = append(ents, dirEnt(dir, 0o755))
		for f := 0; f < 100; f++ {
			ents = append(ents, file(fmt.Sprintf("%sf%03d", dir, f), strings.Repeat("x", 2000+f*40), 0o644))
		}
		ents = append(ents, file(dir+"big", strings.Repeat("y", 1<<20), 0o644))
	}
	return mkTar(b, ents...)
}
