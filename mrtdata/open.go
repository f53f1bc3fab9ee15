package mrtdata

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Open opens an MRT archive for reading: a file path, "-" for stdin, or an
// http(s) URL (streamed, never downloaded whole). Compression is detected
// from the first bytes: gzip (concatenated members are read as one
// stream), bzip2 (decoded in parallel blocks, see bzip2.go), or none. Closing the result closes the underlying file or
// response body.
func Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var src io.ReadCloser
	switch {
	case name == "-":
		src = io.NopCloser(os.Stdin)
	case strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, name, nil)
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open %s: %w", name, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open %s: %w", name, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("mrtdata: open %s: HTTP %s", name, resp.Status)
		}
		src = resp.Body
	default:
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open: %w", err)
		}
		src = f
	}
	r, err := Decompress(src)
	if err != nil {
		return nil, fmt.Errorf("mrtdata: open %s: %w", name, err)
	}
	return r, nil
}

type readCloser struct {
	io.Reader
	closers []io.Closer
}

func (r *readCloser) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Decompress wraps src by its magic bytes (gzip, bzip2 or none), for
// callers that open the input themselves (e.g. to count compressed bytes
// for a progress bar). Closing the result closes src; on error src is
// closed.
func Decompress(src io.ReadCloser) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(src, 256<<10)
	magic, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		src.Close()
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(true)
		return &readCloser{Reader: bufio.NewReaderSize(zr, 256<<10), closers: []io.Closer{zr, src}}, nil
	case len(magic) >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h':
		z := newBzip2Reader(br)
		return &readCloser{Reader: bufio.NewReaderSize(z, 256<<10), closers: []io.Closer{z, src}}, nil
	}
	return &readCloser{Reader: br, closers: []io.Closer{src}}, nil
}
