// Package fetch reads a file or an http(s) URL with conditional re-fetches
// (ETag / If-Modified-Since for URLs, size+mtime for files) and a size
// bound. The provider ranges and the RPKI VRPs refresh through it.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

// Validators carry what a conditional re-fetch needs; the zero value
// makes an unconditional request.
type Validators struct {
	ETag, LastModified string
	// FileStamp is size+mtime of a file source.
	FileStamp string
}

// Options tune a fetch.
type Options struct {
	// Client fetches URLs (required for URLs).
	Client *http.Client
	// MaxBytes bounds the content's size.
	MaxBytes int64
	// UserAgent for HTTP requests (default "routewatch").
	UserAgent string
}

// Error is a source that could not be read (as opposed to read and found
// malformed, which the caller's parser reports).
type Error struct {
	Source string
	Status int // HTTP status, 0 when no response
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("fetch %s: %v", e.Source, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Unreachable reports whether no server answered at all (DNS, connect or
// timeout failure), which on these machines usually means offline.
func (e *Error) Unreachable() bool {
	var dns *net.DNSError
	var op *net.OpError
	return e.Status == 0 && (errors.As(e.Err, &dns) || errors.As(e.Err, &op) || errors.Is(e.Err, context.DeadlineExceeded) || isTimeout(e.Err))
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// IsURL reports whether location is fetched over HTTP.
func IsURL(location string) bool {
	return strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://")
}

// Get reads location. With validators from an earlier Get it returns
// notModified=true (and no data) when the source is unchanged.
func Get(ctx context.Context, location string, opts Options, old Validators) (data []byte, v Validators, notModified bool, err error) {
	if IsURL(location) {
		return getURL(ctx, location, opts, old)
	}
	return getFile(location, opts, old)
}

func getFile(location string, opts Options, old Validators) ([]byte, Validators, bool, error) {
	var v Validators
	f, err := os.Open(location)
	if err != nil {
		return nil, v, false, &Error{Source: location, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, v, false, &Error{Source: location, Err: err}
	}
	v.FileStamp = fmt.Sprintf("%d@%d", st.Size(), st.ModTime().UnixNano())
	if old.FileStamp != "" && old.FileStamp == v.FileStamp {
		return nil, v, true, nil
	}
	data, err := readLimited(f, opts.MaxBytes)
	if err != nil {
		return nil, v, false, &Error{Source: location, Err: err}
	}
	return data, v, false, nil
}

func readLimited(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		return io.ReadAll(r)
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

func getURL(ctx context.Context, location string, opts Options, old Validators) ([]byte, Validators, bool, error) {
	var v Validators
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, v, false, &Error{Source: location, Err: err}
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "routewatch"
	}
	req.Header.Set("User-Agent", ua)
	if old.ETag != "" {
		req.Header.Set("If-None-Match", old.ETag)
	}
	if old.LastModified != "" {
		req.Header.Set("If-Modified-Since", old.LastModified)
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, v, false, &Error{Source: location, Err: err}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if old.ETag == "" && old.LastModified == "" {
			return nil, v, false, &Error{Source: location, Status: resp.StatusCode, Err: errors.New("304 Not Modified to an unconditional request")}
		}
		return nil, old, true, nil
	default:
		return nil, v, false, &Error{Source: location, Status: resp.StatusCode, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	data, err := readLimited(resp.Body, opts.MaxBytes)
	if err != nil {
		return nil, v, false, &Error{Source: location, Status: resp.StatusCode, Err: err}
	}
	v.ETag = resp.Header.Get("ETag")
	v.LastModified = resp.Header.Get("Last-Modified")
	return data, v, false, nil
}
