package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"routewatch/internal/testenv"
	"routewatch/route"
)

// apiScript is ExaBGP's API process: it forwards every complete line
// appended to the command file to ExaBGP, so a test drives the peer by
// appending "announce route …" lines.
const apiScript = `import sys, time, threading
path = sys.argv[1]
pos = 0
def copy_received():
    with open(sys.argv[2], 'a') as out:
        for line in sys.stdin:
            out.write(line)
            out.flush()
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

// exaPeer is one ExaBGP process peering with the collector.
type exaPeer struct {
	t       *testing.T
	dir     string
	cmdFile string
	// recvFile collects what ExaBGP received (JSON, one message a line).
	recvFile string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{}
}

type exaConfig struct {
	LocalAddr string // 127.0.0.x
	LocalAS   uint32
	PeerAddr  string // the collector
	PeerAS    uint32
	Port      int
	AddPath   bool
	MD5       string
	Static    []string // "route … ;" lines without "route" keyword
}

func (c exaConfig) render(script, cmdFile, recvFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "process driver {\n\trun /usr/bin/python3 %s %s %s;\n\tencoder json;\n}\n", script, cmdFile, recvFile)
	fmt.Fprintf(&b, "neighbor %s {\n\trouter-id %s;\n\tlocal-address %s;\n\tlocal-as %d;\n\tpeer-as %d;\n\tgroup-updates false;\n",
		c.PeerAddr, c.LocalAddr, c.LocalAddr, c.LocalAS, c.PeerAS)
	if c.MD5 != "" {
		fmt.Fprintf(&b, "\tmd5-password %s;\n", c.MD5)
	}
	b.WriteString("\tfamily {\n\t\tipv4 unicast;\n\t\tipv6 unicast;\n\t}\n")
	// No graceful-restart capability: with it, ExaBGP closes without a
	// NOTIFICATION and GoBGP v4.8.0 marks the peer's paths stale while its
	// watcher may still read them (a data race inside GoBGP that -race
	// reports). ExaBGP sends End-of-RIB either way.
	b.WriteString("\tcapability {\n")
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

func startExa(t *testing.T, c exaConfig) *exaPeer {
	t.Helper()
	bin := testenv.Command(t, "exabgp")
	dir := t.TempDir()
	script := filepath.Join(dir, "driver.py")
	cmdFile := filepath.Join(dir, "commands")
	recvFile := filepath.Join(dir, "received")
	conf := filepath.Join(dir, "exabgp.conf")
	must(t, os.WriteFile(script, []byte(apiScript), 0o644))
	must(t, os.WriteFile(cmdFile, nil, 0o644))
	must(t, os.WriteFile(conf, []byte(c.render(script, cmdFile, recvFile)), 0o644))
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
	must(t, cmd.Start())
	p := &exaPeer{t: t, dir: dir, cmdFile: cmdFile, recvFile: recvFile, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("exabgp %s log:\n%s", c.LocalAddr, log.String())
		}
	})
	return p
}

// send appends API commands (one per line) for ExaBGP to execute.
func (p *exaPeer) send(lines ...string) {
	p.t.Helper()
	f, err := os.OpenFile(p.cmdFile, os.O_APPEND|os.O_WRONLY, 0)
	must(p.t, err)
	defer f.Close()
	for _, l := range lines {
		_, err := fmt.Fprintln(f, l)
		must(p.t, err)
	}
}

// received returns the JSON messages ExaBGP got from the collector.
func (p *exaPeer) received() string {
	b, _ := os.ReadFile(p.recvFile)
	return string(b)
}

// stop kills ExaBGP (and its API process) and waits for it.
func (p *exaPeer) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
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

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// running is a collector under test with its output stream.
type running struct {
	t   *testing.T
	c   *Collector
	reg *prometheus.Registry
	out chan Batch
	// items is the flattened stream: route.Update or route.PeerState.
	items chan any
	errc  chan error
}

func startCollector(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := New(cfg, logger, reg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, c: c, reg: reg, out: make(chan Batch), items: make(chan any, 100000), errc: make(chan error, 1)}
	go func() { r.errc <- c.Run(ctx, r.out) }()
	go func() {
		for b := range r.out {
			for _, u := range b.Updates {
				r.items <- u
			}
			for _, s := range b.States {
				r.items <- s
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

// next returns the next update or peer state, failing after a timeout.
func (r *running) next(timeout time.Duration) any {
	r.t.Helper()
	select {
	case it := <-r.items:
		return it
	case err := <-r.errc:
		r.t.Fatalf("Run returned early: %v", err)
	case <-time.After(timeout):
		r.t.Fatalf("nothing received within %s", timeout)
	}
	return nil
}

// expectNone checks that nothing arrives for d.
func (r *running) expectNone(d time.Duration) {
	r.t.Helper()
	select {
	case it := <-r.items:
		r.t.Fatalf("unexpected item: %s", describe(it))
	case <-time.After(d):
	}
}

// metric returns the value of a counter/gauge (summed over labels matching
// the given label pairs).
func (r *running) metric(name string, labels ...string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	must(r.t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func describe(it any) string {
	switch v := it.(type) {
	case route.Update:
		a := ""
		if v.Attrs != nil {
			a = fmt.Sprintf(" path=[%s] nh=%s comm=%v large=%v origin=%s", v.Attrs.ASPath, v.Attrs.NextHop, v.Attrs.Communities, v.Attrs.LargeCommunities, v.Attrs.Origin)
		}
		return fmt.Sprintf("update peer=%s/%d %s id=%d wd=%v dump=%v%s", v.Peer.Addr, v.Peer.ASN, v.Prefix, v.PathID, v.Withdraw, v.TableDump, a)
	case route.PeerState:
		return fmt.Sprintf("state peer=%s/%d %s->%s eor=%v reason=%q", v.Peer.Addr, v.Peer.ASN, v.Old, v.New, v.EndOfRIB, v.Reason)
	}
	return fmt.Sprintf("%#v", it)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
