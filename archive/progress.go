package archive

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is the bar over the whole window: it advances with the record
// time of the merged stream (from the earliest RIB dump to the end of the
// window) and shows the files read and the bytes downloaded. A nil
// *progress (no writer) does nothing.
type progress struct {
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	base   time.Time
	files  int
	total  int
	bytesN int64
	last   time.Time
}

func newProgress(w io.Writer, cs []Collector, from, to time.Time) *progress {
	if w == nil {
		return nil
	}
	base := to
	total := 0
	for _, c := range cs {
		rib := c.RIBAtOrBefore(from, 0)
		if rib.Start.Before(base) {
			base = rib.Start
		}
		total += 1 + len(c.Updates(rib.Start, to))
	}
	secs := int64(to.Sub(base) / time.Second)
	p := &progress{base: base, total: total}
	p.bar = progressbar.NewOptions64(max(secs, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(p.describe()),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish())
	return p
}

func (p *progress) describe() string {
	at := "…"
	if !p.last.IsZero() {
		at = p.last.Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("%s · %d/%d files · %s", at, p.files, p.total, humanBytes(p.bytesN))
}

// at moves the bar to record time t.
func (p *progress) at(t time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.Sub(p.last) < time.Second {
		return
	}
	p.last = t
	_ = p.bar.Set64(int64(t.Sub(p.base) / time.Second))
}

func (p *progress) file() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.files++
	p.bar.Describe(p.describe())
	p.mu.Unlock()
}

func (p *progress) bytes(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.bytesN += n
	p.mu.Unlock()
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	_ = p.bar.Finish()
	p.mu.Unlock()
}
