package mrtdata

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"routewatch/internal/testenv"
)

// bzip2Cmd compresses data with Debian's bzip2 (the reference encoder).
func bzip2Cmd(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(testenv.Command(t, "bzip2"), append([]string{"-c"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bzip2: %v", err)
	}
	return out
}

// bzInputs are decompressed MRT data (shared RIS files) and synthetic
// text, compressed at several block sizes.
func bzInputs(t testing.TB) map[string][]byte {
	dir := filepath.Join(testenv.SharedData(t), "mrt")
	mrt := append(testenv.Gunzip(t, filepath.Join(dir, "updates.20160811.1600.gz")),
		testenv.Gunzip(t, filepath.Join(dir, "updates.20070211.0141.gz"))...)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	return map[string][]byte{"mrt": mrt, "random": random, "runs": bytes.Repeat([]byte{'a'}, 2<<20), "empty": nil}
}

func readAllBz(t testing.TB, comp []byte) ([]byte, error) {
	t.Helper()
	z := newBzip2Reader(bytes.NewReader(comp))
	defer z.Close()
	return io.ReadAll(z)
}

func TestBzip2Parallel(t *testing.T) {
	for name, raw := range bzInputs(t) {
		for _, level := range []string{"-1", "-9"} {
			comp := bzip2Cmd(t, raw, level)
			t.Run(name+level, func(t *testing.T) {
				got, err := readAllBz(t, comp)
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("err %v, %d bytes, want %d", err, len(got), len(raw))
				}
			})
			t.Run(name+level+" concatenated", func(t *testing.T) {
				got, err := readAllBz(t, append(append([]byte{}, comp...), comp...))
				if err != nil || !bytes.Equal(got, append(append([]byte{}, raw...), raw...)) {
					t.Fatalf("err %v, %d bytes, want %d", err, len(got), 2*len(raw))
				}
			})
		}
	}
}

// TestBzip2Truncated: a cut stream yields a prefix of the data, then
// io.ErrUnexpectedEOF; a damaged one an error; never more or other data.
func TestBzip2Truncated(t *testing.T) {
	raw := bzInputs(t)["mrt"]
	comp := bzip2Cmd(t, raw, "-1")
	for _, frac := range []float64{0.01, 0.3, 0.5, 0.9, 0.999} {
		cut := comp[:int(float64(len(comp))*frac)]
		got, err := readAllBz(t, cut)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %.1f%%: err %v, want unexpected EOF", 100*frac, err)
		}
		if !bytes.HasPrefix(raw, got) {
			t.Errorf("cut at %.1f%%: output is not a prefix of the data", 100*frac)
		}
		if frac >= 0.5 && len(got) == 0 {
			t.Errorf("cut at %.1f%%: no data from the complete blocks", 100*frac)
		}
	}
	t.Run("damaged", func(t *testing.T) {
		bad := append([]byte{}, comp...)
		bad[len(bad)/2] ^= 0x40
		got, err := readAllBz(t, bad)
		if err == nil {
			t.Fatal("no error for a damaged block")
		}
		if !bytes.HasPrefix(raw, got) {
			t.Fatal("output is not a prefix of the data")
		}
	})
	t.Run("through the MRT reader", func(t *testing.T) {
		rc, err := Decompress(io.NopCloser(bytes.NewReader(comp[:len(comp)/2])))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		r := NewReader(rc, "cut.bz2")
		for {
			_, err := r.Next()
			if err == nil || errors.Is(err, ErrCorrupt) {
				continue
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("err %v, want a truncated archive", err)
			}
			break
		}
	})
}

// TestBzip2FalseMagic: a block magic inside the compressed data splits a
// block in two; the reader merges them back.
func TestBzip2FalseMagic(t *testing.T) {
	raw := bytes.Repeat([]byte("routewatch "), 1000)
	comp := bzip2Cmd(t, raw, "-9")
	z := newBzip2Reader(bytes.NewReader(comp)).(*bzReader)
	defer z.Close()
	// Split the only block by hand: feed two halves as blocks.
	var blocks []*bzBlock
	for b := range z.results {
		<-b.done
		blocks = append(blocks, b)
	}
	if len(blocks) != 2 || blocks[1].eos == false {
		t.Fatalf("%d blocks", len(blocks))
	}
	whole := blocks[0]
	half := whole.nbits / 2
	first := &bzBlock{bits: extractBits(whole.bits, 0, half), nbits: half, level: whole.level, crc: whole.crc, done: make(chan struct{})}
	second := &bzBlock{bits: extractBits(whole.bits, half, whole.nbits-half), nbits: whole.nbits - half, level: whole.level, done: make(chan struct{})}
	for _, b := range []*bzBlock{first, second} {
		b.out, b.derr = decodeBlock(b, nil)
		close(b.done)
	}
	if first.derr == nil {
		t.Fatal("half a block decoded")
	}
	results := make(chan *bzBlock, 3)
	results <- first
	results <- second
	results <- blocks[1]
	close(results)
	r := &bzReader{results: results, stop: make(chan struct{}), pool: z.pool}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("err %v, %d bytes, want %d", err, len(got), len(raw))
	}
}

// FuzzBzip2 compares the parallel reader with compress/bzip2: whatever
// the standard reader decodes, the parallel one decodes identically; on
// any input it ends (data or error) without panicking.
func FuzzBzip2(f *testing.F) {
	f.Add([]byte{0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0x3a, 0xde, 0x52, 0x05, 0x00, 0x00, 0x04, 0x51, 0x80, 0x00,
		0x10, 0x40, 0x04, 0x2a, 0x44, 0x96, 0x80, 0x20, 0x00, 0x22, 0x98, 0x34, 0x1a, 0x08, 0x06, 0x80, 0x03, 0x56, 0x97, 0x4a, 0x17, 0x9e,
		0x38, 0x74, 0x8e, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0x3a, 0xde, 0x52, 0x05})
	f.Add([]byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00"))
	f.Add([]byte("BZh1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := io.ReadAll(bzip2.NewReader(bytes.NewReader(data)))
		got, gerr := readAllBz(t, data)
		if werr == nil && (gerr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("standard reader: %d bytes; parallel: %d bytes, %v", len(want), len(got), gerr)
		}
		if werr == nil {
			return
		}
		if gerr == nil && !bytes.Equal(got, want) && len(got) > 0 {
			// The standard reader rejects some streams we accept
			// (e.g. trailing zero padding); the data must then be what
			// it decoded before its error.
			if !bytes.HasPrefix(got, want) {
				t.Fatalf("parallel output diverges from the standard reader's before its error %v", werr)
			}
		}
	})
}

// BenchmarkBzip2 compares the parallel reader with compress/bzip2 on
// the shared RIS updates recompressed by Debian's bzip2 (cpu-s/op is the
// process's CPU time: the parallel reader's overhead).
func BenchmarkBzip2(b *testing.B) {
	comp := bzip2Cmd(b, bzInputs(b)["mrt"], "-9")
	for _, kind := range []string{"std", "parallel"} {
		b.Run(kind, func(b *testing.B) {
			c0 := procCPU()
			var n int64
			for b.Loop() {
				var r io.Reader
				if kind == "std" {
					r = bzip2.NewReader(bytes.NewReader(comp))
				} else {
					z := newBzip2Reader(bytes.NewReader(comp))
					defer z.Close()
					r = z
				}
				var err error
				if n, err = io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(n)
			b.ReportMetric((procCPU()-c0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
