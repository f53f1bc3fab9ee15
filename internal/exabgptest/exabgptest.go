// Package exabgptest runs Debian's ExaBGP as a real BGP peer for tests: one
// process per vantage point, driven through ExaBGP's API by appending
// commands ("announce route …", "withdraw route …") to a file that a tiny
// API process forwards.
package exabgptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"routewatch/internal/testenv"
)

// apiScript is ExaBGP's API process: it forwards every complete line
// appended to the command file to ExaBGP, and copies what ExaBGP reports
// (JSON) to a second file.
const apiScript = `import os, sys, time, threading
path = sys.argv[1]
pos = 0
def copy_received():
    with open(sys.argv[2], 'a') as out:
        for line in sys.stdin:
            out.write(line)
            out.flush()
    # ExaBGP is gone (stdin closed): do not outlive it.
    os._exit(0)
threading.Thread(target=copy_received, daemon=True).start()
while True:
    try:
        with open(path, 'rb') as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        data = b''
    end = data.rfind(b'\n')
    if end >= 0:
        chunk = data[:end + 1]
        pos += len(chunk)
        sys.stdout.write(chunk.decode())
        sys.stdout.flush()
    time.sleep(0.02)
`

// Config describes one ExaBGP peer.
type Config struct {
	LocalAddr string // 127.0.0.x: the vantage point's address
	LocalAS   uint32
	PeerAddr  string // routewatch's address
	PeerAS    uint32
	Port      int // routewatch's BGP port
	AddPath   bool
	MD5       string
	// GracefulRestart advertises the capability. Off by default: with it,
	// ExaBGP closes without a NOTIFICATION and GoBGP v4.8.0 marks the
	// peer's paths stale while its watcher may still read them (a data
	// race inside GoBGP that -race reports). ExaBGP sends End-of-RIB
	// either way.
	GracefulRestart bool
	// Static routes announced at session start ("PREFIX next-hop self as-path [ … ]").
	Static []string
}

func (c Config) render(script, cmdFile, recvFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "process driver {\n\trun /usr/bin/python3 %s %s %s;\n\tencoder json;\n}\n", script, cmdFile, recvFile)
	fmt.Fprintf(&b, "neighbor %s {\n\trouter-id %s;\n\tlocal-address %s;\n\tlocal-as %d;\n\tpeer-as %d;\n\tgroup-updates false;\n",
		c.PeerAddr, c.LocalAddr, c.LocalAddr, c.LocalAS, c.PeerAS)
	if c.MD5 != "" {
		fmt.Fprintf(&b, "\tmd5-password %s;\n", c.MD5)
	}
	b.WriteString("\tfamily {\n\t\tipv4 unicast;\n\t\tipv6 unicast;\n\t}\n")
	b.WriteString("\tcapability {\n")
	if c.GracefulRestart {
		b.WriteString("\t\tgraceful-restart 120;\n")
	}
	if c.AddPath {
		b.WriteString("\t\tadd-path send;\n")
	}
	b.WriteString("\t}\n")
	if c.AddPath {
		b.WriteString("\tadd-path {\n\t\tipv4 unicast;\n\t\tipv6 unicast;\n\t}\n")
	}
	b.WriteString("\tapi {\n\t\tprocesses [ driver ];\n\t\treceive {\n\t\t\tparsed;\n\t\t\tupdate;\n\t\t}\n\t}\n")
	if len(c.Static) > 0 {
		b.WriteString("\tstatic {\n")
		for _, r := range c.Static {
			fmt.Fprintf(&b, "\t\troute %s;\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Peer is one running ExaBGP process.
type Peer struct {
	t        testing.TB
	cmdFile  string
	recvFile string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
}

// Start runs ExaBGP with c; it is stopped when the test ends and its log
// is printed if the test failed.
func Start(t testing.TB, c Config) *Peer {
	t.Helper()
	bin := testenv.Command(t, "exabgp")
	dir := t.TempDir()
	script := filepath.Join(dir, "driver.py")
	cmdFile := filepath.Join(dir, "commands")
	recvFile := filepath.Join(dir, "received")
	conf := filepath.Join(dir, "exabgp.conf")
	for name, data := range map[string]string{script: apiScript, cmdFile: "", conf: c.render(script, cmdFile, recvFile)} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, conf)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"exabgp.tcp.port="+fmt.Sprint(c.Port),
		"exabgp.tcp.bind=",
		"exabgp.daemon.user=root",
		"exabgp.daemon.drop=false",
		"exabgp.daemon.daemonize=false",
		"exabgp.api.ack=false",
		"exabgp.api.cli=false",
		"exabgp.log.destination=stdout",
		"exabgp.log.level=INFO",
		"exabgp.bgp.openwait=5",
		"exabgp.cache.attributes=false",
	)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	// ExaBGP's API process shares its output pipe: Stop signals the whole
	// process group, and Wait gives up on the pipe soon after ExaBGP exits
	// so an orphaned child cannot hang the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("exabgptest: start: %v", err)
	}
	p := &Peer{t: t, cmdFile: cmdFile, recvFile: recvFile, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("exabgp %s log:\n%s", c.LocalAddr, log.String())
		}
	})
	return p
}

// Send appends API commands (one per line) for ExaBGP to execute.
func (p *Peer) Send(lines ...string) {
	p.t.Helper()
	f, err := os.OpenFile(p.cmdFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		p.t.Fatal(err)
	}
}

// Received returns the JSON messages ExaBGP got from its peer.
func (p *Peer) Received() string {
	b, _ := os.ReadFile(p.recvFile)
	return string(b)
}

// Log returns ExaBGP's output so far.
func (p *Peer) Log() string { return p.log.String() }

// Stop ends ExaBGP (and its API process) and waits for it.
func (p *Peer) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	// The API process may still be running when ExaBGP exits first.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
