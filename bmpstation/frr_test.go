package bmpstation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"routewatch/internal/exabgptest"
	"routewatch/internal/testenv"
	"routewatch/route"
)

// frr is Debian's FRR bgpd with the BMP module, run alone (no zebra, no
// root) as DESIGN.md measured.
type frr struct {
	t       *testing.T
	dir     string
	bin     string
	bgpPort int
	cmd     *exec.Cmd
	done    chan struct{}
	log     *os.File
}

const frrAddr = "127.0.1.6" // bgpd's BGP address; its BMP session comes from 127.0.0.1

func frrConfig(stationPort int, neighbors map[string]uint32) string {
	return frrConfigWith(fmt.Sprintf("  bmp connect 127.0.0.1 port %d min-retry 100 max-retry 1000\n", stationPort), neighbors)
}

// frrConfigWith takes the BMP session line: bmp connect (FRR dials) or
// bmp listener (the station dials).
func frrConfigWith(session string, neighbors map[string]uint32) string {
	var b strings.Builder
	b.WriteString("hostname frr1\nlog stdout debugging\n!\nrouter bgp 65100\n bgp router-id 192.0.2.100\n no bgp ebgp-requires-policy\n no bgp network import-check\n")
	for a, asn := range neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s passive\n", a, asn, a)
	}
	b.WriteString(" !\n address-family ipv4 unicast\n")
	for a := range neighbors {
		// FRR #10240: without it, pre-policy sends an empty table.
		fmt.Fprintf(&b, "  neighbor %s soft-reconfiguration inbound\n", a)
	}
	b.WriteString(" exit-address-family\n !\n bmp targets station\n")
	b.WriteString(session)
	b.WriteString("  bmp monitor ipv4 unicast pre-policy\n  bmp monitor ipv4 unicast post-policy\n  bmp stats interval 1000\n exit\n!\n")
	return b.String()
}

func startFRR(t *testing.T, stationPort int, neighbors map[string]uint32) *frr {
	t.Helper()
	return startFRRConf(t, frrConfig(stationPort, neighbors))
}

func startFRRConf(t *testing.T, conf string) *frr {
	t.Helper()
	bin := "/usr/lib/frr/bgpd"
	if _, err := os.Stat(bin); err != nil {
		bin = testenv.Command(t, "bgpd")
	}
	f := &frr{t: t, dir: t.TempDir(), bin: bin, bgpPort: testenv.FreePort(t)}
	must(t, os.WriteFile(filepath.Join(f.dir, "bgpd.conf"), []byte(conf), 0o644))
	f.start()
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(f.dir, "bgpd.log"))
			t.Logf("bgpd log (tail):\n%s", tail(string(b), 60))
		}
	})
	return f
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (f *frr) start() {
	f.t.Helper()
	log, err := os.OpenFile(filepath.Join(f.dir, "bgpd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(f.t, err)
	f.log = log
	cmd := exec.Command(f.bin, "-M", "bmp", "-Z", "-S", "-f", filepath.Join(f.dir, "bgpd.conf"),
		"-i", filepath.Join(f.dir, "bgpd.pid"), "-z", filepath.Join(f.dir, "zserv.api"), "--vty_socket", f.dir,
		"-A", "127.0.0.1", "-P", "0", "-l", frrAddr, "-p", fmt.Sprint(f.bgpPort))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	must(f.t, cmd.Start())
	f.cmd, f.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(f.done)
}

func (f *frr) stop() {
	if f.cmd == nil {
		return
	}
	select {
	case <-f.done:
	default:
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-f.done
		}
	}
	f.log.Close()
	f.cmd = nil
}

func (f *frr) exa(local string, asn uint32, static ...string) *exabgptest.Peer {
	return exabgptest.Start(f.t, exabgptest.Config{LocalAddr: local, LocalAS: asn, PeerAddr: frrAddr, PeerAS: 65100, Port: f.bgpPort, Static: static})
}

// TestFRRScenario: FRR bgpd exporting pre- and post-policy Adj-RIB-In of
// two ExaBGP peers: initial tables, change, withdraw, a peer drops, bgpd
// restarts (its BMP session drops and comes back).
func TestFRRScenario(t *testing.T) {
	st := startStation(t, Config{EORTimeout: 3 * time.Second})
	f := startFRR(t, st.port, map[string]uint32{"127.0.1.7": 65001, "127.0.1.8": 65002})
	e1 := f.exa("127.0.1.7", 65001,
		"10.1.0.0/24 next-hop 192.0.2.7 as-path [ 65001 16509 ]",
		"10.5.0.0/24 next-hop 192.0.2.7 as-path [ 65001 16509 ]",
		"198.18.0.0/24 next-hop 192.0.2.7 as-path [ 65001 64496 ]")
	e2 := f.exa("127.0.1.8", 65002, "10.2.0.0/24 next-hop 192.0.2.8 as-path [ 65002 8075 ]")

	router := "frr1@127.0.0.1"
	pre1 := route.Peer{Addr: addr("127.0.1.7"), ASN: 65001, Router: router}
	post1 := pre1
	post1.View = route.ViewAdjRIBInPost
	pre2 := route.Peer{Addr: addr("127.0.1.8"), ASN: 65002, Router: router}

	t.Log("initial tables in both views")
	seen := st.waitFor("pre-policy 10.1.0.0/24", isUpdate(pre1, "10.1.0.0/24", false))
	u := seen[len(seen)-1].(route.Update)
	// FRR 8.4 prepends its own AS to pre-policy paths (DESIGN.md).
	if p := u.Attrs.ASPath.String(); p != "65001 16509" && p != "65100 65001 16509" {
		t.Errorf("pre-policy path %q", p)
	}
	if u.Attrs.NextHop != addr("192.0.2.7") {
		t.Errorf("next hop %s", u.Attrs.NextHop)
	}
	st.waitFor("post-policy 10.1.0.0/24", isUpdate(post1, "10.1.0.0/24", false))
	st.waitFor("pre-policy 10.2.0.0/24", isUpdate(pre2, "10.2.0.0/24", false))
	st.waitFor("end of RIB pre1", isState(pre1, isEoR))
	if got := st.metric("routewatch_bmp_router_info", "router", router); got != 1 {
		t.Errorf("router_info = %v", got)
	}

	t.Log("change and withdraw")
	e1.Send("announce route 10.1.0.0/24 next-hop 192.0.2.7 as-path [ 65001 3356 16509 ]")
	st.waitFor("changed path", func(it any) bool {
		u, ok := it.(route.Update)
		return ok && u.Peer == post1 && u.Prefix == pfx("10.1.0.0/24") && !u.Withdraw && strings.Contains(u.Attrs.ASPath.String(), "3356")
	})
	e1.Send("withdraw route 10.5.0.0/24 next-hop 192.0.2.7")
	st.waitFor("withdrawal post", isUpdate(post1, "10.5.0.0/24", true))
	st.waitFor("withdrawal pre", isUpdate(pre1, "10.5.0.0/24", true))

	t.Log("a peer drops: its views go down")
	e2.Stop()
	st.waitFor("pre2 down", isState(pre2, isDown))

	t.Log("bgpd restarts: its BMP session drops, then the tables come again")
	f.stop()
	st.waitFor("pre1 down", isState(pre1, isDown))
	st.backlog = nil // what came before the restart
	f.start()
	st.waitFor("pre1 up", isState(pre1, isUp))
	seen = st.waitFor("pre1 re-sent", isUpdate(pre1, "10.1.0.0/24", false))
	if u := seen[len(seen)-1].(route.Update); !u.TableDump {
		t.Errorf("re-sent route not a table dump: %s", describe(u))
	}
	st.waitFor("pre1 end of RIB", isState(pre1, isEoR))
	if got := st.metric("routewatch_bmp_malformed_total"); got != 0 {
		t.Errorf("malformed_total = %v", got)
	}
	if got := st.metric("routewatch_bmp_messages_total", "type", "statistics_report"); got < 1 {
		t.Logf("no statistics report yet (interval 1 s)")
	}
}

// TestFRRActive: the station dials FRR's BMP listener (bmp.active),
// retrying with backoff until bgpd is up.
func TestFRRActive(t *testing.T) {
	bmpPort := testenv.FreePort(t)
	st := startStation(t, Config{Active: []Target{{Address: frrAddr, Port: bmpPort}}, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	conf := frrConfigWith(fmt.Sprintf("  bmp listener %s port %d\n", frrAddr, bmpPort), map[string]uint32{"127.0.1.7": 65001})
	f := startFRRConf(t, conf)
	f.exa("127.0.1.7", 65001, "10.1.0.0/24 next-hop 192.0.2.7 as-path [ 65001 16509 ]")
	p := route.Peer{Addr: addr("127.0.1.7"), ASN: 65001, Router: "frr1@" + frrAddr}
	st.waitFor("route over the dialed session", isUpdate(p, "10.1.0.0/24", false))
	if got := st.metric("routewatch_bmp_connections_total", "result", "dialed"); got < 1 {
		t.Errorf("dialed = %v", got)
	}
	t.Log("bgpd restarts: the station redials")
	f.stop()
	st.waitFor("down", isState(p, isDown))
	st.backlog = nil
	f.start()
	st.waitFor("up again", isState(p, isUp))
}
