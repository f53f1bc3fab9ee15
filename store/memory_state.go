package store

import (
	"bufio"
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"

	"routewatch/route"
)

// DefaultStateInterval is how often Run writes the memory store's state
// file.
const DefaultStateInterval = time.Minute

// stateMagic starts a state file: the format and its version. The rest is
// a zstd stream (with its content checksum) of one gob-encoded memState.
const stateMagic = "routewatch memory state v1\n"

// PutCheckpoint implements Checkpoints.
func (m *Memory) PutCheckpoint(ctx context.Context, name string, data []byte, at time.Time) error {
	if name == "" {
		return fmt.Errorf("store: put checkpoint: %w: empty name", ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[name] = memCheckpoint{data: slices.Clone(data), at: at}
	return nil
}

// Checkpoint implements Checkpoints.
func (m *Memory) Checkpoint(ctx context.Context, name string) ([]byte, time.Time, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.checkpoints[name]
	if !ok {
		return nil, time.Time{}, ErrNotFound
	}
	return slices.Clone(c.data), c.at, nil
}

// OpenMemory returns the embedded store with the state cfg.StateFile
// holds. A missing file is a first start (empty store). A file that cannot
// be decoded (corrupt, truncated, another format) is set aside as
// FILE.corrupt-<time> with a warning naming the reason, and the store
// starts empty: it never stops the service from starting. A file older
// than ten state intervals is loaded with a warning giving its age: what
// happened between then and now is missing until the sources send it
// again. Errors are only for a file that exists but cannot be read at all
// (permissions, I/O), or a missing one that cannot be created.
func OpenMemory(cfg MemoryConfig, logger *slog.Logger) (*Memory, error) {
	m := NewMemory(cfg)
	m.log = cmp.Or(logger, m.log)
	if cfg.StateFile == "" {
		return m, nil
	}
	f, err := os.Open(cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		// Write the empty state now: a file that cannot be written is a
		// configuration error at start, not a warning every interval.
		if err := m.SaveState(); err != nil {
			return nil, fmt.Errorf("store: memory state_file %s cannot be written: %w", cfg.StateFile, err)
		}
		m.log.Info("store: no memory state file yet; starting empty", "state_file", cfg.StateFile)
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: open memory state: %w", err)
	}
	st, err := readState(f)
	f.Close()
	if err == nil {
		err = m.restore(st)
	}
	if err != nil {
		m = NewMemory(cfg) // nothing half restored
		m.log = cmp.Or(logger, m.log)
		aside := fmt.Sprintf("%s.corrupt-%s", cfg.StateFile, time.Now().UTC().Format("20060102T150405Z"))
		m.log.Warn("store: memory state file cannot be read; set aside, starting empty",
			"state_file", cfg.StateFile, "moved_to", aside, "err", err)
		if rerr := os.Rename(cfg.StateFile, aside); rerr != nil {
			return nil, fmt.Errorf("store: open memory state: %w (and it cannot be set aside: %v)", err, rerr)
		}
		return m, nil
	}
	age := time.Since(st.SavedAt)
	attrs := []any{"state_file", cfg.StateFile, "saved_at", st.SavedAt, "age", age.Round(time.Second),
		"prefixes", len(st.Prefixes), "events", len(st.Events), "deliveries", len(st.Deliveries)}
	if age > 10*m.cfg.StateInterval {
		m.log.Warn("store: memory state file is stale; changes since it was saved are missing", attrs...)
	} else {
		m.log.Info("store: memory state loaded", attrs...)
	}
	return m, nil
}

// Run writes the state file every StateInterval until ctx ends (then Close
// writes the last one). Without a state file it just waits.
func (m *Memory) Run(ctx context.Context) error {
	if m.cfg.StateFile == "" {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(m.cfg.StateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.SaveState(); err != nil {
				m.log.Warn("store: write memory state", "state_file", m.cfg.StateFile, "err", err)
			}
		}
	}
}

// Close implements Store: it writes the state file one last time.
func (m *Memory) Close() error {
	m.saveMu.Lock()
	closed := m.closed
	m.closed = true
	m.saveMu.Unlock()
	if closed || m.cfg.StateFile == "" {
		return nil
	}
	return m.SaveState()
}

// SaveState writes the whole state to the state file now: a snapshot
// taken under the read lock, encoded outside it into a temporary file in
// the same directory, synced, then renamed over the file, so a crash at
// any point leaves the previous file or the new one, never a torn one.
func (m *Memory) SaveState() error {
	if m.cfg.StateFile == "" {
		return nil
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	st := m.snapshot()
	dir, base := filepath.Split(m.cfg.StateFile)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: save memory state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: already gone
	if err := writeState(tmp, st); err != nil {
		tmp.Close()
		return fmt.Errorf("store: save memory state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("store: save memory state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: save memory state: %w", err)
	}
	if err := os.Rename(tmp.Name(), m.cfg.StateFile); err != nil {
		return fmt.Errorf("store: save memory state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}

// snapshot copies the state under the read lock. Stored attributes,
// events and payloads are never changed in place (writes replace them),
// so values are copied and their slices shared.
func (m *Memory) snapshot() *memState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := &memState{SavedAt: time.Now().UTC(), VerSeq: m.verSeq, PeerGen: m.peerGen, EvGen: m.evGen,
		Prefixes: make([]prefixState, 0, len(m.prefixes)), Events: make([]route.Event, 0, len(m.events))}
	for _, mp := range m.prefixes {
		ps := prefixState{Prefix: mp.prefix, Tags: mp.tags, Hist: slices.Clone(mp.hist), Seq: mp.seq, Ver: mp.ver,
			Horizon: mp.horizon, HasHorizon: mp.hasHorizon, Routes: make([]routeState, 0, len(mp.routes))}
		for k, r := range mp.routes {
			ps.Routes = append(ps.Routes, routeState{Key: k, Attrs: r.attrs, Since: r.since, Epoch: r.epoch})
		}
		st.Prefixes = append(st.Prefixes, ps)
	}
	for _, p := range m.peers {
		st.Peers = append(st.Peers, *p)
	}
	for a, h := range m.sessions {
		st.Sessions = append(st.Sessions, sessionState{Addr: a.Addr, Peer: a.peer(0), States: slices.Clone(h)})
	}
	for g, mg := range m.groups {
		gs := groupState{Group: g, Buckets: maps.Clone(mg.buckets), Last: mg.last}
		for p := range mg.members {
			gs.Members = append(gs.Members, p)
		}
		st.Groups = append(st.Groups, gs)
	}
	for _, e := range m.events {
		st.Events = append(st.Events, e)
	}
	for _, d := range m.deliveries {
		st.Deliveries = append(st.Deliveries, deliveryState{D: d.d, LeaseUntil: d.leaseUntil})
	}
	for _, id := range m.finOrder {
		st.Finished = append(st.Finished, finishedState{ID: id, Outcome: m.finished[id]})
	}
	for name, c := range m.checkpoints {
		st.Checkpoints = append(st.Checkpoints, checkpointState{Name: name, Data: c.data, At: c.at})
	}
	return st
}

// restore fills an empty store from a state file's content and rebuilds
// the derived indexes. Entries that could never have been stored are
// refused (ErrCorrupt), so a hand-edited or damaged file is not half used.
func (m *Memory) restore(st *memState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range st.Prefixes {
		if !ps.Prefix.IsValid() || ps.Prefix != ps.Prefix.Masked() {
			return fmt.Errorf("%w: prefix %v", ErrCorrupt, ps.Prefix)
		}
		mp := &memPrefix{prefix: ps.Prefix, tags: ps.Tags, tagsEnc: encodeTags(ps.Tags), hist: ps.Hist, seq: ps.Seq,
			ver: ps.Ver, horizon: ps.Horizon, hasHorizon: ps.HasHorizon, routes: make(map[routeKey]*memRoute, len(ps.Routes))}
		for _, r := range ps.Routes {
			if !r.Key.Peer.Addr.IsValid() {
				return fmt.Errorf("%w: route of %v without a peer", ErrCorrupt, ps.Prefix)
			}
			mp.routes[r.Key] = &memRoute{attrs: r.Attrs, since: r.Since, epoch: r.Epoch}
			m.indexASNs(ps.Prefix, r.Attrs.ASPath, +1)
		}
		m.prefixes[ps.Prefix] = mp
		if len(mp.routes) > 0 {
			m.active.Insert(ps.Prefix, mp)
		}
	}
	for _, p := range st.Peers {
		if !p.Peer.Addr.IsValid() {
			return fmt.Errorf("%w: peer without an address", ErrCorrupt)
		}
		m.peers[vantageOf(p.Peer)] = &p
	}
	for _, s := range st.Sessions {
		v := vantageOf(s.Peer)
		if !v.Addr.IsValid() {
			v = vantage{Addr: s.Addr} // written before vantage points
		}
		m.sessions[v] = s.States
	}
	for _, gs := range st.Groups {
		mg := m.groupLocked(gs.Group)
		for _, p := range gs.Members {
			mg.members[p] = struct{}{}
		}
		if gs.Buckets != nil {
			mg.buckets = gs.Buckets
		}
		mg.last = gs.Last
	}
	for _, e := range st.Events {
		if e.ID == "" {
			return fmt.Errorf("%w: event without an id", ErrCorrupt)
		}
		m.events[e.ID] = e
		m.indexEventLocked(&e)
	}
	for _, d := range st.Deliveries {
		m.deliveries[d.D.ID] = &memDelivery{d: d.D, leaseUntil: d.LeaseUntil}
	}
	for _, f := range st.Finished {
		m.finished[f.ID] = f.Outcome
		m.finOrder = append(m.finOrder, f.ID)
	}
	for _, c := range st.Checkpoints {
		m.checkpoints[c.Name] = memCheckpoint{data: c.Data, at: c.At}
	}
	m.verSeq, m.peerGen, m.evGen = st.VerSeq, st.PeerGen, st.EvGen
	return nil
}

func writeState(w io.Writer, st *memState) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.WriteString(stateMagic); err != nil {
		return err
	}
	zw, err := zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(zw).Encode(st); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func readState(r io.Reader) (*memState, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head := make([]byte, len(stateMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != stateMagic {
		return nil, fmt.Errorf("%w: not a routewatch memory state file (v1)", ErrCorrupt)
	}
	zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var st memState
	if err := gob.NewDecoder(zr).Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// The zstd checksum is verified at the end of the stream: read it.
	if n, err := io.Copy(io.Discard, zr); err != nil || n != 0 {
		return nil, fmt.Errorf("%w: trailing data or bad checksum (%v)", ErrCorrupt, err)
	}
	return &st, nil
}

// memState is the state file's content. Indexes that follow from it (the
// prefix tree, per-ASN counts, event facets) are rebuilt on load.
type memState struct {
	SavedAt     time.Time
	Prefixes    []prefixState
	Peers       []peerRec
	Sessions    []sessionState
	Groups      []groupState
	Events      []route.Event
	Deliveries  []deliveryState
	Finished    []finishedState // oldest first
	Checkpoints []checkpointState
	VerSeq      uint64
	PeerGen     uint64
	EvGen       uint64
}

type prefixState struct {
	Prefix     netip.Prefix
	Tags       []route.Tag
	Routes     []routeState
	Hist       []histRec
	Seq, Ver   uint64
	Horizon    time.Time
	HasHorizon bool
}

type routeState struct {
	Key   routeKey
	Attrs route.Attrs
	Since time.Time
	Epoch uint64
}

// sessionState is one vantage point's session history. Files written
// before vantage points had Addr only; Peer (ASN unused) now names it.
type sessionState struct {
	Addr   netip.Addr
	Peer   route.Peer
	States []route.PeerState
}

type groupState struct {
	Group   route.Group
	Members []netip.Prefix
	Buckets map[int64]int64
	Last    time.Time
}

type deliveryState struct {
	D          Delivery
	LeaseUntil time.Time
}

type finishedState struct {
	ID      string
	Outcome Outcome
}

type checkpointState struct {
	Name string
	Data []byte
	At   time.Time
}
