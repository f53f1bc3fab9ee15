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

// openMRT opens an MRT input for mrt dump and replay: "-" is stdin, URLs
// stream, and large local files get a progress bar (compressed bytes) when
// errw is a terminal and quiet is off. The bar is nil otherwise.
func openMRT(ctx context.Context, name string, stdin io.Reader, errw io.Writer, quiet bool) (io.ReadCloser, *progressbar.ProgressBar, error) {
	if name == "-" {
		rc, err := mrtdata.Decompress(io.NopCloser(stdin))
		if err != nil {
			return nil, nil, fmt.Errorf("mrtdata: open stdin: %w", err)
		}
		return rc, nil, nil
	}
	f, ok := errw.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	st, err := os.Stat(name)
	if quiet || !tty || strings.Contains(name, "://") || err != nil || st.Size() < progressMin {
		rc, err := mrtdata.Open(ctx, name)
		return rc, nil, err
	}
	raw, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("mrtdata: open: %w", err)
	}
	bar := progressbar.NewOptions64(st.Size(),
		progressbar.OptionSetWriter(errw), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(name), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish())
	rc, err := mrtdata.Decompress(&progressReader{r: raw, bar: bar})
	if err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("mrtdata: open %s: %w", name, err)
	}
	return rc, bar, nil
}

// progressReader counts compressed bytes for the progress bar.
type progressReader struct {
	r   io.ReadCloser
	bar *progressbar.ProgressBar
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	_ = p.bar.Add(n)
	return n, err
}

func (p *progressReader) Close() error { return p.r.Close() }
