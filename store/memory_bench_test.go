package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkMemoryApplyUpdates: updates/s through the memory store's write
// path (ns/op is per update): announcements of new prefixes by 4 peers,
// then the same routes changed (new paths), in batches of 2000.
func BenchmarkMemoryApplyUpdates(b *testing.B) {
	st := NewMemory(MemoryConfig{})
	ups := benchUpdates(b.N, 4, 0)
	for len(ups) < b.N {
		ups = append(ups, benchUpdates(4, 4, len(ups))...)
	}
	for i := range ups {
		if i%2 == 1 { // every other update changes the path of the one before
			ups[i] = ups[i-1]
			a := *ups[i].Attrs
			a.MED, a.HasMED = 7, true
			ups[i].Attrs = &a
			ups[i].Time = ups[i].Time.Add(time.Second)
		}
	}
	ups = ups[:b.N]
	b.ReportAllocs()
	b.ResetTimer()
	ctx := context.Background()
	for len(ups) > 0 {
		n := min(len(ups), 2000)
		if err := st.ApplyUpdates(ctx, ups[:n]); err != nil {
			b.Fatal(err)
		}
		ups = ups[n:]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
