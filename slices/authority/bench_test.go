package authority

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"pcr/slices/api"
)

// BenchmarkCreateSlice is one slice create through the HTTPS API (mTLS,
// checks, VNI allocation, etcd transactions) against the embedded etcd
// with fsync on, one caller at a time ("serial") and many at once
// ("parallel"). Its slices have no nodes: node checks add two reads.
func BenchmarkCreateSlice(b *testing.B) {
	h := newHarness(b)
	var n atomic.Int64
	create := func(b *testing.B) {
		name := fmt.Sprintf("pl_s%d", n.Add(1))
		if _, err := h.admin.CreateSlice(b.Context(), api.CreateSlice{Name: name, Image: "busybox"}); err != nil {
			b.Error(err) // Error, not Fatal: it runs on RunParallel's goroutines too
		}
	}
	report := func(b *testing.B, start time.Time) {
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
	}
	b.Run("serial", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			create(b)
		}
		report(b, start)
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				create(b)
			}
		})
		report(b, start)
	})
}
