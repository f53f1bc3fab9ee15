package mrtdata

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"routewatch/internal/testenv"
)

// benchInput is a shared RIS file, or $MRT_BENCH_FILE (e.g. the large RIB
// that bench/mrt.sh builds).
func benchInput(b *testing.B, def string) string {
	if f := os.Getenv("MRT_BENCH_FILE"); f != "" {
		return f
	}
	return filepath.Join(testenv.SharedData(b), "mrt", def)
}

func benchRead(b *testing.B, name string, format bool) {
	b.ReportAllocs()
	var routes, bytes int64
	for b.Loop() {
		rc, err := Open(context.Background(), name)
		if err != nil {
			b.Fatal(err)
		}
		r := NewReader(rc, name)
		var f BgpdumpFormatter
		var out []byte
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				b.Fatal(err)
			}
			if format {
				out = f.Append(out[:0], &rec)
			}
		}
		rc.Close()
		st := r.Stats()
		routes, bytes = st.Routes, st.Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(routes)*float64(b.N)/b.Elapsed().Seconds(), "routes/s")
}

func BenchmarkDecodeUpdates(b *testing.B) {
	benchRead(b, benchInput(b, "updates.20160811.1600.gz"), false)
}

func BenchmarkDecodeRIB(b *testing.B) { benchRead(b, benchInput(b, "bview.20020722.2337.gz"), false) }

func BenchmarkBgpdumpUpdates(b *testing.B) {
	benchRead(b, benchInput(b, "updates.20160811.1600.gz"), true)
}

func BenchmarkBgpdumpRIB(b *testing.B) { benchRead(b, benchInput(b, "bview.20020722.2337.gz"), true) }
