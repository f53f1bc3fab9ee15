// Package archivetest writes a synthetic scenario as the archive trees of
// several collectors, in the RIS and RouteViews layouts, for tests that
// serve them over a local HTTP server (package archive, `replay
// --collector`).
package archivetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"

	"routewatch/archive"
	"routewatch/mrtdata"
	"routewatch/mrtdata/scenario"
	"routewatch/route"
)

// Tree is what Write produced: per collector, the cache-style paths of its
// files below the tree's root (RIB first, then update files in time order).
type Tree struct {
	Dir   string
	Files map[string][]string
}

// Path returns the absolute path of a collector's file.
func (t Tree) Path(rel string) string { return filepath.Join(t.Dir, filepath.FromSlash(rel)) }

// Write splits sc's vantage points round-robin over the collectors and
// writes, for each, the initial table as a RIB dump named for sc.Start and
// the updates and state changes into update files by their start time, in
// the collector's layout below dir/<collector name>. RIS files are gzip,
// RouteViews files bzip2 (with the bzip2 command at bzip2Path).
func Write(dir string, sc *scenario.Scenario, cs []archive.Collector, bzip2Path string) (Tree, error) {
	tree := Tree{Dir: dir, Files: map[string][]string{}}
	owner := map[route.Peer]int{}
	for i, p := range sc.Peers {
		owner[p] = i % len(cs)
	}
	for ci, c := range cs {
		var peers []route.Peer
		for _, p := range sc.Peers {
			if owner[p] == ci {
				peers = append(peers, p)
			}
		}
		files, err := writeCollector(dir, sc, c, peers, owner, ci)
		if err != nil {
			return tree, fmt.Errorf("archivetest: %s: %w", c.Name, err)
		}
		for _, f := range sortedFiles(files) {
			if err := compress(tree.Path(f), files[f].Bytes(), c.Layout.Name == archive.RIS.Name, bzip2Path); err != nil {
				return tree, err
			}
			tree.Files[c.Name] = append(tree.Files[c.Name], f)
		}
	}
	return tree, nil
}

// sortedFiles orders paths RIB first, then by name (= time).
func sortedFiles(files map[string]*bytes.Buffer) []string {
	var out []string
	for f := range files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := isRIB(out[i]), isRIB(out[j])
		if ri != rj {
			return ri
		}
		return out[i] < out[j]
	})
	return out
}

func isRIB(p string) bool {
	return bytes.Contains([]byte(p), []byte("/bview.")) || bytes.Contains([]byte(p), []byte("/RIBS/"))
}

func writeCollector(dir string, sc *scenario.Scenario, c archive.Collector, peers []route.Peer, owner map[route.Peer]int, ci int) (map[string]*bytes.Buffer, error) {
	files := map[string]*bytes.Buffer{}
	rib := c.RIBAtOrBefore(sc.Start, 0)
	ribBuf := &bytes.Buffer{}
	files[rib.Path] = ribBuf
	idx := map[route.Peer]uint16{}
	for i, p := range peers {
		idx[p] = uint16(i)
	}
	rw := mrtdata.NewWriter(ribBuf)
	if err := rw.WritePeerIndexTable(sc.Start, netip.MustParseAddr("192.0.2.254"), "", peers); err != nil {
		return nil, err
	}
	items := sc.Items()
	byPrefix := map[netip.Prefix][]mrtdata.RIBEntry{}
	var order []netip.Prefix
	i := 0
	for ; i < len(items) && items[i].Update != nil && items[i].Update.TableDump; i++ {
		u := items[i].Update
		if owner[u.Peer] != ci {
			continue
		}
		if _, ok := byPrefix[u.Prefix]; !ok {
			order = append(order, u.Prefix)
		}
		byPrefix[u.Prefix] = append(byPrefix[u.Prefix], mrtdata.RIBEntry{PeerIndex: idx[u.Peer], Originated: u.Time, Attrs: u.Attrs})
	}
	for seq, p := range order {
		if err := rw.WriteRIB(sc.Start, uint32(seq), p, byPrefix[p], false); err != nil {
			return nil, err
		}
	}
	writers := map[string]*mrtdata.Writer{}
	for ; i < len(items); i++ {
		it := items[i]
		var peer route.Peer
		var t time.Time
		if it.State != nil {
			peer, t = it.State.Peer, it.State.Time
		} else {
			peer, t = it.Update.Peer, it.Update.Time
		}
		if owner[peer] != ci {
			continue
		}
		f := c.Updates(t, t.Add(time.Nanosecond))[0]
		w := writers[f.Path]
		if w == nil {
			buf := &bytes.Buffer{}
			files[f.Path] = buf
			w = mrtdata.NewWriter(buf)
			writers[f.Path] = w
		}
		var err error
		if it.State != nil {
			err = w.WritePeerState(*it.State)
		} else {
			err = w.WriteUpdate(*it.Update)
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func compress(path string, raw []byte, gz bool, bzip2Path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var out []byte
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return err
		}
		out = b.Bytes()
	} else {
		cmd := exec.Command(bzip2Path, "-c")
		cmd.Stdin = bytes.NewReader(raw)
		var b bytes.Buffer
		cmd.Stdout = &b
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("archivetest: bzip2: %w", err)
		}
		out = b.Bytes()
	}
	return os.WriteFile(path, out, 0o644)
}

// Retime returns a copy of the decompressed MRT data raw with every
// record's timestamp moved by shift (the bodies are left alone).
func Retime(raw []byte, shift time.Duration) []byte {
	out := append([]byte(nil), raw...)
	s := int64(shift / time.Second)
	for b := out; len(b) >= 12; {
		ts := int64(binary.BigEndian.Uint32(b)) + s
		binary.BigEndian.PutUint32(b, uint32(ts))
		n := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	return out
}

// WriteFile compresses raw for the collector's layout (gzip for RIS,
// bzip2 otherwise) into dir/f.Path.
func WriteFile(dir string, c archive.Collector, f archive.File, raw []byte, bzip2Path string) error {
	return compress(filepath.Join(dir, filepath.FromSlash(f.Path)), raw, c.Layout.Name == archive.RIS.Name, bzip2Path)
}
