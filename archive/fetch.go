package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrMissing marks an archive file the server does not have (HTTP 404 or
// 410). RIS has gaps; a missing update file is reported and skipped, a
// missing RIB dump is fatal.
var ErrMissing = errors.New("archive file missing")

// ErrShort marks a download that stayed shorter than the server's
// Content-Length after every resume attempt.
var ErrShort = errors.New("download incomplete")

// fetcher downloads archive files into a directory: a completed file is
// reused as is, an interrupted one (NAME.part) is resumed with a Range
// request, and a file is only complete (renamed into place) when its size
// equals the server's Content-Length.
type fetcher struct {
	client  *http.Client
	dir     string
	log     *slog.Logger
	retries int
	// progress is told about every downloaded byte (nil: nobody).
	progress func(n int64)
}

// fetchResult says where a file is on disk and how it got there.
type fetchResult struct {
	Path   string
	Bytes  int64 // bytes downloaded now (0 when cached)
	Cached bool
}

// fetch makes f available on disk.
func (d *fetcher) fetch(ctx context.Context, f File) (fetchResult, error) {
	final := filepath.Join(d.dir, filepath.FromSlash(f.Path))
	if st, err := os.Stat(final); err == nil && st.Mode().IsRegular() {
		return fetchResult{Path: final, Cached: true}, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fetchResult{}, fmt.Errorf("archive: cache: %w", err)
	}
	part := final + ".part"
	var got int64
	var lastErr error
	for attempt := 0; attempt <= d.retries; attempt++ {
		if attempt > 0 {
			d.log.Warn("archive: download interrupted, resuming", "url", f.URL, "attempt", attempt, "have_bytes", fileSize(part), "err", lastErr)
			select {
			case <-ctx.Done():
				return fetchResult{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		n, done, err := d.attempt(ctx, f.URL, part)
		got += n
		if err == nil && done {
			if err := os.Rename(part, final); err != nil {
				return fetchResult{}, fmt.Errorf("archive: cache: %w", err)
			}
			return fetchResult{Path: final, Bytes: got}, nil
		}
		if errors.Is(err, ErrMissing) || ctx.Err() != nil {
			return fetchResult{}, err
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return fetchResult{}, perm.err
		}
		lastErr = err
	}
	return fetchResult{}, fmt.Errorf("archive: download %s: %w after %d attempts: %v", f.URL, ErrShort, d.retries+1, lastErr)
}

// permanentError is a failure that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// attempt appends what the server sends to part (resuming with a Range
// request when part has bytes) and reports whether part is now complete.
func (d *fetcher) attempt(ctx context.Context, url, part string) (n int64, complete bool, err error) {
	have := fileSize(part)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, &permanentError{fmt.Errorf("archive: download %s: %w", url, err)}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	// Archives are compressed already; a transparent gzip layer would
	// hide the real length.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("archive: download %s: %w", url, err)
	}
	defer resp.Body.Close()
	var total int64 = -1
	flags := os.O_WRONLY | os.O_CREATE
	switch resp.StatusCode {
	case http.StatusOK:
		flags |= os.O_TRUNC // the server ignored the Range: start over
		total = resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return 0, false, &permanentError{fmt.Errorf("archive: download %s: bad Content-Range %q for a resume at %d",
				url, resp.Header.Get("Content-Range"), have)}
		}
		flags |= os.O_APPEND
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// part holds the whole file already, or more than the file.
		if _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size == have {
			return 0, true, nil
		}
		_ = os.Remove(part)
		return 0, false, fmt.Errorf("archive: download %s: cached part does not fit the file; starting over", url)
	case http.StatusNotFound, http.StatusGone:
		return 0, false, fmt.Errorf("archive: download %s: HTTP %s: %w", url, resp.Status, ErrMissing)
	default:
		err := fmt.Errorf("archive: download %s: HTTP %s", url, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return 0, false, err
		}
		return 0, false, &permanentError{err}
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return 0, false, &permanentError{fmt.Errorf("archive: cache: %w", err)}
	}
	n, cerr := io.Copy(out, &countingReader{r: resp.Body, add: d.progress})
	if err := out.Close(); err != nil && cerr == nil {
		cerr = err
	}
	size := fileSize(part)
	switch {
	case cerr != nil:
		return n, false, fmt.Errorf("archive: download %s: %w", url, cerr)
	case total >= 0 && size < total:
		return n, false, fmt.Errorf("archive: download %s: %d of %d bytes", url, size, total)
	case total >= 0 && size > total:
		_ = os.Remove(part)
		return n, false, fmt.Errorf("archive: download %s: %d bytes, more than the %d announced", url, size, total)
	}
	return n, true, nil
}

// parseContentRange reads "bytes START-END/SIZE" (and "bytes */SIZE").
func parseContentRange(v string) (start, size int64, ok bool) {
	v, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if rng == "*" {
		return -1, size, true
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err = strconv.ParseInt(s, 10, 64)
	return start, size, err == nil
}

type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.add != nil {
		c.add(int64(n))
	}
	return n, err
}

// defaultClient is an HTTP client whose connections fail a read that waits
// longer than stall for its first byte (a stalled server), with a 30 s
// bound on the response headers.
func defaultClient(stall time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: stall}, nil
	}
	return &http.Client{Transport: tr}
}

// stallConn sets a read deadline before every read: bytes that stop
// coming end the read with a timeout instead of blocking for ever.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
