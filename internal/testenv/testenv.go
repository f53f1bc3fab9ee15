// Package testenv finds the real components tests run against: the shared
// RIS/cloud data next to the repository, Debian tools (bgpdump, exabgp) and
// Redis. Outside CI a missing component skips the test; with CI set it
// fails it, so CI can never go green by skipping.
package testenv

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// InCI reports whether the CI environment variable is set.
func InCI() bool { return os.Getenv("CI") != "" }

// missing skips the test outside CI and fails it in CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf("skipped (not in CI): "+format, args...)
}

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.mod not found above working directory")
		}
		dir = parent
	}
}

// SharedData returns ../shared/data next to the repository (or
// $ROUTEWATCH_SHARED/data). Outside CI the test is skipped when it is absent.
func SharedData(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ROUTEWATCH_SHARED")
	if base == "" {
		base = filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	}
	dir := filepath.Join(base, "data")
	if _, err := os.Stat(dir); err != nil {
		missing(t, "shared data folder %s: %v", dir, err)
	}
	return dir
}

// SharedFile returns the path of a file under ../shared/data (e.g.
// "mrt/updates.20160811.1600.gz"), failing if the folder exists without it.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedData(t), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared file: %v", err)
	}
	return p
}

// Command returns the path of an installed command (bgpdump, exabgp,
// redis-server, ...).
func Command(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Debian installs some daemons under sbin, which may be off PATH.
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
			if c := filepath.Join(dir, name); isExec(c) {
				return c
			}
		}
		missing(t, "command %s not installed", name)
	}
	return p
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// RedisAddr returns host:port of the test Redis: $REDIS_ADDR, or the host
// of $REDIS_URL, else 127.0.0.1:6379. It checks that something answers.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		missing(t, "redis at %s: %v", addr, err)
		return addr
	}
	c.Close()
	return addr
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Gunzip returns the decompressed contents of a gzip file (the shared
// `*.bgpdump.gz` expectations, for instance).
func Gunzip(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
