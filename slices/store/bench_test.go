package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"pcr/slices/api"
)

// BenchmarkStoreCreateSlice is the store's part of a slice create (VNI
// list, one transaction) on the embedded etcd with fsync on.
func BenchmarkStoreCreateSlice(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			s := newTestStore(b, Options{})
			var n atomic.Int64
			create := func() {
				if _, err := s.CreateSlice(b.Context(), api.Slice{Name: fmt.Sprintf("pl_s%d", n.Add(1))}); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			if mode == "serial" {
				for b.Loop() {
					create()
				}
			} else {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						create()
					}
				})
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
		})
	}
}
