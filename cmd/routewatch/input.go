package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"routewatch/mrtdata"
)

// progressMin is the size from which a local archive gets a progress bar.
const progressMin = 4 << 20

// progressHold is how long the first bytes are held back from the bar: a
// rate over the first microseconds (one buffer read) is meaningless.
const progressHold = 500 * time.Millisecond

// inputOpener opens MRT inputs for mrt dump and replay (mrtdata.Feed.Open):
// "-" is std.in, URLs stream, and when std.err is a terminal and quiet is off
// large local files get a progress bar of compressed bytes and stdin one of
// bytes read.
func inputOpener(std stdio, quiet bool) func(ctx context.Context, name string) (io.ReadCloser, error) {
	return func(ctx context.Context, name string) (io.ReadCloser, error) {
		f, ok := std.err.(*os.File)
		tty := !quiet && ok && term.IsTerminal(int(f.Fd()))
		if name == "-" {
			var src io.ReadCloser = io.NopCloser(std.in)
			if tty {
				src = newProgressReader(src, newBar(std.err, -1, "stdin"), time.Now)
			}
			rc, err := mrtdata.Decompress(src)
			if err != nil {
				return nil, fmt.Errorf("mrtdata: open stdin: %w", err)
			}
			return rc, nil
		}
		st, err := os.Stat(name)
		if !tty || strings.Contains(name, "://") || err != nil || st.Size() < progressMin {
			return mrtdata.Open(ctx, name)
		}
		raw, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open: %w", err)
		}
		rc, err := mrtdata.Decompress(newProgressReader(raw, newBar(std.err, st.Size(), name), time.Now))
		if err != nil {
			return nil, fmt.Errorf("mrtdata: open %s: %w", name, err)
		}
		return rc, nil
	}
}

// newBar is a byte progress bar on w; size -1 is unknown (stdin).
func newBar(w io.Writer, size int64, name string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(name), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish())
}

// progressReader counts the bytes read for the progress bar and finishes
// it on Close.
type progressReader struct {
	r       io.ReadCloser
	bar     *progressbar.ProgressBar
	now     func() time.Time
	start   time.Time
	pending int
}

func newProgressReader(r io.ReadCloser, bar *progressbar.ProgressBar, now func() time.Time) *progressReader {
	_ = bar.RenderBlank() // starts the bar's clock
	return &progressReader{r: r, bar: bar, now: now, start: now()}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pending += n
	if p.now().Sub(p.start) >= progressHold {
		_ = p.bar.Add(p.pending)
		p.pending = 0
	}
	return n, err
}

func (p *progressReader) Close() error {
	_ = p.bar.Finish()
	return p.r.Close()
}

// maxReportedErrors bounds the per-record error lines on stderr; the
// summary still counts every error.
const maxReportedErrors = 20

// recordErrors prints the first corrupt records of a run, one a line,
// and then how many more there were.
type recordErrors struct {
	w      io.Writer
	prefix string
	n      int
}

func (r *recordErrors) report(re *mrtdata.RecordError) {
	if r.n < maxReportedErrors {
		fmt.Fprintf(r.w, "%s: %v\n", r.prefix, re)
	}
	r.n++
}

// finish says what the list left out.
func (r *recordErrors) finish() {
	if r.n > maxReportedErrors {
		fmt.Fprintf(r.w, "%s: … %d more corrupt records (%d in all)\n", r.prefix, r.n-maxReportedErrors, r.n)
	}
}
