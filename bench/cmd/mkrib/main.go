// Command mkrib writes a large synthetic TABLE_DUMP_V2 RIB for benchmarks
// with mrtdata.Writer. Prefixes and AS paths come from real MRT archives
// (e.g. the shared RIS files); every prefix gets one entry per synthetic
// peer, each peer prepending its own ASN to a path picked from the pool.
//
//	go run ./bench/cmd/mkrib -peers 40 -o rib.mrt.gz FILE...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"

	"routewatch/mrtdata"
	"routewatch/route"
)

func main() {
	peers := flag.Int("peers", 40, "number of peers (entries per prefix)")
	out := flag.String("o", "rib.mrt.gz", "output file (gzip)")
	minEntries := flag.Int("entries", 4_000_000, "write at least this many RIB entries (prefixes are reused with a shifted address when the inputs have too few)")
	flag.Parse()
	if err := run(*peers, *minEntries, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkrib:", err)
		os.Exit(1)
	}
}

func run(npeers, minEntries int, out string, inputs []string) error {
	if len(inputs) == 0 {
		return errors.New("no input MRT files")
	}
	var prefixes []netip.Prefix
	var pool []*route.Attrs
	seen := map[netip.Prefix]bool{}
	feed := &mrtdata.Feed{Inputs: inputs}
	err := feed.Walk(context.Background(), func(_ string, rec *mrtdata.Record) error {
		for _, u := range rec.Updates {
			if u.Withdraw || u.Attrs == nil {
				continue
			}
			if !seen[u.Prefix] {
				seen[u.Prefix] = true
				prefixes = append(prefixes, u.Prefix)
			}
			if len(pool) < 50000 {
				pool = append(pool, u.Attrs)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(prefixes) == 0 || len(pool) == 0 {
		return errors.New("inputs hold no announcements")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	w := mrtdata.NewWriter(zw)
	t := time.Unix(1700000000, 0)
	peers := make([]route.Peer, npeers)
	for i := range peers {
		peers[i] = route.Peer{Addr: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), ASN: uint32(64512 + i)}
		if i%4 == 3 {
			peers[i].Addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
			peers[i].ASN = uint32(4200000000 + i)
		}
	}
	if err := w.WritePeerIndexTable(t, netip.MustParseAddr("10.255.255.1"), "bench", peers); err != nil {
		return err
	}
	// One attribute set per (pool entry, peer): the peer's ASN in front.
	attrsFor := func(k, peer int) *route.Attrs {
		a := *pool[k%len(pool)]
		seq := append([]uint32{peers[peer].ASN}, a.ASPath.Sequence()...)
		a.ASPath = route.ASPath{{Type: route.ASSequence, ASNs: seq}}
		if peers[peer].Addr.Is4() {
			a.NextHop = peers[peer].Addr
		}
		return &a
	}
	cache := make([][]*route.Attrs, min(len(pool), 4096))
	entries := make([]mrtdata.RIBEntry, npeers)
	written, seq := 0, uint32(0)
	for round := 0; written < minEntries; round++ {
		for _, p := range prefixes {
			if round > 0 {
				// Shift the prefix into fresh space so each round adds new
				// prefixes of the same shape.
				b := p.Addr().AsSlice()
				b[0] ^= byte(round * 7)
				a, _ := netip.AddrFromSlice(b)
				p = netip.PrefixFrom(a, p.Bits()).Masked()
			}
			k := int(seq) % len(cache)
			if cache[k] == nil {
				cache[k] = make([]*route.Attrs, npeers)
				for i := range npeers {
					cache[k][i] = attrsFor(k, i)
				}
			}
			for i := range npeers {
				entries[i] = mrtdata.RIBEntry{PeerIndex: uint16(i), Originated: t, Attrs: cache[k][i]}
				if p.Addr().Is6() && cache[k][i].NextHop.Is4() {
					a := *cache[k][i]
					a.NextHop = netip.MustParseAddr("2001:db8::1")
					entries[i].Attrs = &a
				}
			}
			if err := w.WriteRIB(t, seq, p, entries, false); err != nil {
				return err
			}
			seq++
			written += npeers
			if written >= minEntries {
				break
			}
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mkrib: %d prefixes x %d peers = %d RIB entries -> %s\n", seq, npeers, written, out)
	return f.Close()
}
