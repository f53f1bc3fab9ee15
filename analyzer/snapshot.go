package analyzer

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"

	"routewatch/route"
)

// Snapshot and Restore checkpoint the analyzer's whole state — the slots
// of the watched routes, the sliding window, the baselines, open (and
// held resolved) events, pending decisions — so that a restarted service
// continues where it was instead of starting cold. Restore(cfg,
// a.Snapshot()) behaves exactly like a on every later input.
//
// The encoding is a 4-byte magic, a version byte, then a zstd-compressed
// gob of a flat image in which pointers are indices (route attributes are
// interned: one UPDATE's attributes shared by many routes are stored
// once). A snapshot of another version is refused with ErrSnapshot.

// SnapshotVersion is the encoding version Snapshot writes.
const SnapshotVersion = 1

var snapshotMagic = [4]byte{'R', 'W', 'A', 'S'}

// ErrSnapshot is wrapped by every Restore error: the data is not a
// snapshot of this version, or is corrupt.
var ErrSnapshot = errors.New("invalid analyzer snapshot")

// maxSnapshot bounds the decompressed image (a full table at 40 vantage
// points is well under 1 GiB).
const maxSnapshot = 4 << 30

type imgSlot struct {
	Peer, Pfx int
	Attrs     int // index in image.Attrs, -1 none
	PathID    uint32
	Refs      int32
	State     uint8
	Bogus     bool
	ROV       uint8
	Synced    bool
}

type imgPeer struct {
	Peer            route.Peer
	ID              uint32
	Wd              []time.Time
	SuspectAt       time.Time
	SuspectCooldown time.Time
	IDs             imgIDSeq
	Down            bool
	DownEvent       int // -1 none
	DownStale       int
	Reannounced     int
}

type imgIDSeq struct {
	Kind  route.EventKind
	Start time.Time
	Seq   int
}

type imgASNCount struct {
	ASN uint32
	N   int32
}

type imgPrefix struct {
	Prefix  netip.Prefix
	Groups  []int
	Slots   []int
	Win     []imgASNCount
	Origins []uint32
	Match   route.MatchKind
}

type imgHijack struct {
	Kind  int // index in hijackKinds
	Slots []int
	Since []time.Time
	Event int // -1 none
}

type imgGroup struct {
	Provider, Region     string
	Size, Changed, Corr  int
	Baseline, BSum, BW   float64
	NextCheck, PendingAt time.Time
	Epoch, Cooldown      time.Time
	Event                int // -1 none
	IDs                  imgIDSeq
	Hijack               []imgHijack
}

type imgRecord struct {
	T           time.Time
	Slot        int
	Typ         ChangeType
	FromPresent bool
	FromAttrs   int
	Removed     bool
	Synced      bool
}

type imgBase struct {
	Slot     int
	Present  bool
	Attrs    int
	Dev      bool
	Unjudged bool
}

type imgPeerCount struct {
	Peer route.Peer
	N    int
}

type imgTrans struct {
	From, To uint32
	Prefixes []netip.Prefix
}

type imgEvent struct {
	ID                   string
	Kind                 route.EventKind
	Group                int // -1 none
	Peer                 route.Peer
	Start, Detected      time.Time
	End                  *time.Time
	LastActive, LastEmit time.Time
	Dirty                bool
	Base                 []imgBase
	Deviated, Peak       int
	Prefixes             []netip.Prefix
	Peers                []imgPeerCount
	Trans                []imgTrans
	Visible              int
	Reason               string
	StalePrefixes        int
	Hijack               int // hijack kind index + 1, 0 none
	Origins, Carriers    []imgASNCount
	ROV                  []int // bogus routes by RPKI state (rovIndex)
	Transit              uint32
	Incident             int // -1 none
	CauseN               int
	Signals              []route.Signal
	Cause                route.Cause
	Final                *route.Event
}

type imgIncident struct {
	ID     string
	ASN    uint32
	Events []int
}

type imgKept struct {
	Prefix  netip.Prefix
	Origins []uint32
}

type imgSuspect struct {
	ASN uint32
	T   time.Time
}

type image struct {
	Started                  bool
	StartAt, Now, NextSample time.Time
	NextPeer                 uint32
	Attrs                    []route.Attrs
	Peers                    []imgPeer
	Slots                    []imgSlot
	Prefixes                 []imgPrefix
	Groups                   []imgGroup
	Win                      []imgRecord
	Events                   []imgEvent
	Open, Pending, Suspects  []int
	SuspectLog               []imgSuspect
	Kept                     []imgKept
	Incidents                []imgIncident
	Stats                    Stats
}

// Snapshot encodes the analyzer's state (see SnapshotVersion).
func (a *Analyzer) Snapshot() ([]byte, error) {
	img := a.image()
	var buf bytes.Buffer
	buf.Write(snapshotMagic[:])
	buf.WriteByte(SnapshotVersion)
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("analyzer: snapshot: %w", err)
	}
	if err := gob.NewEncoder(zw).Encode(img); err != nil {
		return nil, fmt.Errorf("analyzer: snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("analyzer: snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore returns an analyzer with cfg and the state of a snapshot.
func Restore(cfg Config, data []byte) (a *Analyzer, err error) {
	if len(data) < 5 || !bytes.Equal(data[:4], snapshotMagic[:]) {
		return nil, fmt.Errorf("analyzer: restore: %w: no snapshot header", ErrSnapshot)
	}
	if data[4] != SnapshotVersion {
		return nil, fmt.Errorf("analyzer: restore: %w: version %d, want %d", ErrSnapshot, data[4], SnapshotVersion)
	}
	zr, err := zstd.NewReader(bytes.NewReader(data[5:]), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxSnapshot))
	if err != nil {
		return nil, fmt.Errorf("analyzer: restore: %w: %v", ErrSnapshot, err)
	}
	defer zr.Close()
	var img image
	if err := gob.NewDecoder(io.LimitReader(zr, maxSnapshot)).Decode(&img); err != nil {
		return nil, fmt.Errorf("analyzer: restore: %w: %v", ErrSnapshot, err)
	}
	a = New(cfg)
	defer func() {
		// Indices are checked one by one below; this only guards against a
		// check missed: a corrupt snapshot is an error, never a crash.
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("analyzer: restore: %w: %v", ErrSnapshot, r)
		}
	}()
	if err := a.load(&img); err != nil {
		return nil, fmt.Errorf("analyzer: restore: %w: %v", ErrSnapshot, err)
	}
	return a, nil
}

// index maps the analyzer's objects to their positions in an image.
type index struct {
	attrs  map[*route.Attrs]int
	slots  map[*slot]int
	pfx    map[*pfxState]int
	groups map[*group]int
	events map[*event]int
	img    *image
}

func (x *index) attr(p *route.Attrs) int {
	if p == nil {
		return -1
	}
	if i, ok := x.attrs[p]; ok {
		return i
	}
	x.attrs[p] = len(x.img.Attrs)
	x.img.Attrs = append(x.img.Attrs, *p)
	return x.attrs[p]
}

func ref[K comparable](m map[K]int, k K, zero K) int {
	if k == zero {
		return -1
	}
	if i, ok := m[k]; ok {
		return i
	}
	return -1
}

func (a *Analyzer) image() *image {
	img := &image{Started: a.started, StartAt: a.startAt, Now: a.now, NextSample: a.nextSample, NextPeer: a.nextPeer, Stats: a.stats}
	x := &index{attrs: map[*route.Attrs]int{}, slots: map[*slot]int{}, pfx: map[*pfxState]int{},
		groups: map[*group]int{}, events: map[*event]int{}, img: img}
	for i, e := range a.events {
		x.events[e] = i
	}
	for i, g := range a.groupList {
		x.groups[g] = i
	}
	var pfs []*pfxState
	for _, pf := range a.prefixes.v4 {
		pfs = append(pfs, pf)
	}
	for _, pf := range a.prefixes.v6 {
		pfs = append(pfs, pf)
	}
	slices.SortFunc(pfs, func(p, q *pfxState) int { return comparePrefix(p.prefix, q.prefix) })
	for i, pf := range pfs {
		x.pfx[pf] = i
	}
	peers := make([]*peerState, 0, len(a.peers))
	for _, p := range a.peers {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(p, q *peerState) int { return cmp.Compare(p.id, q.id) })
	for pi, p := range peers {
		ip := imgPeer{Peer: p.peer, ID: p.id, Wd: slices.Clone(p.wd[p.wdHead:]), SuspectAt: p.suspectAt,
			SuspectCooldown: p.suspectCooldown, IDs: imgSeq(p.ids), Down: p.down,
			DownEvent: ref(x.events, p.downEvent, nil), DownStale: p.downStale, Reannounced: p.reannounced}
		img.Peers = append(img.Peers, ip)
		for _, s := range p.slots {
			x.slots[s] = len(img.Slots)
			img.Slots = append(img.Slots, imgSlot{Peer: pi, Pfx: x.pfx[s.pfx], Attrs: x.attr(s.attrs),
				PathID: s.pathID, Refs: s.refs, State: uint8(s.state), Bogus: s.bogus, ROV: uint8(s.rov),
				Synced: s.synced})
		}
	}
	for _, pf := range pfs {
		ip := imgPrefix{Prefix: pf.prefix, Origins: pf.origins, Match: pf.match}
		for _, g := range pf.groups {
			ip.Groups = append(ip.Groups, x.groups[g])
		}
		for _, s := range pf.slots {
			ip.Slots = append(ip.Slots, x.slots[s])
		}
		for _, w := range pf.win {
			ip.Win = append(ip.Win, imgASNCount{ASN: w.asn, N: w.n})
		}
		img.Prefixes = append(img.Prefixes, ip)
	}
	x.groupImages(a)
	for i := a.head; i < len(a.win); i++ {
		r := &a.win[i]
		img.Win = append(img.Win, imgRecord{T: r.t, Slot: x.slots[r.slot], Typ: r.typ, FromPresent: r.fromPresent,
			FromAttrs: x.attr(r.fromAttrs), Removed: r.removed, Synced: r.synced})
	}
	incidents := map[*incident]int{}
	for _, e := range a.events {
		if e.incident != nil {
			if _, ok := incidents[e.incident]; !ok {
				incidents[e.incident] = len(img.Incidents)
				ii := imgIncident{ID: e.incident.id, ASN: e.incident.asn}
				for _, o := range e.incident.events {
					ii.Events = append(ii.Events, x.events[o])
				}
				img.Incidents = append(img.Incidents, ii)
			}
		}
	}
	for _, e := range a.events {
		img.Events = append(img.Events, x.event(e, incidents))
	}
	for _, e := range a.open {
		img.Open = append(img.Open, x.events[e])
	}
	for _, g := range a.pending {
		img.Pending = append(img.Pending, x.groups[g])
	}
	for _, p := range a.suspects {
		img.Suspects = append(img.Suspects, slices.Index(peers, p))
	}
	for _, m := range a.suspectLog {
		img.SuspectLog = append(img.SuspectLog, imgSuspect{ASN: m.asn, T: m.t})
	}
	for p, o := range a.keptOrigins {
		img.Kept = append(img.Kept, imgKept{Prefix: p, Origins: o})
	}
	slices.SortFunc(img.Kept, func(p, q imgKept) int { return comparePrefix(p.Prefix, q.Prefix) })
	return img
}

// groupImages adds the groups' state to the image.
func (x *index) groupImages(a *Analyzer) {
	for _, g := range a.groupList {
		ig := imgGroup{Provider: g.g.Provider, Region: g.g.Region, Size: g.size, Changed: g.changed, Corr: g.corr,
			Baseline: g.baseline, BSum: g.bsum, BW: g.bw, NextCheck: g.nextCheck, PendingAt: g.pendingAt,
			Epoch: g.epoch, Cooldown: g.cooldown, Event: ref(x.events, g.event, nil), IDs: imgSeq(g.ids)}
		for k, h := range g.hij {
			if h == nil {
				continue
			}
			ih := imgHijack{Kind: k, Event: ref(x.events, h.event, nil)}
			for s, since := range h.slots {
				ih.Slots = append(ih.Slots, x.slots[s])
				ih.Since = append(ih.Since, since)
			}
			ig.Hijack = append(ig.Hijack, ih)
		}
		x.img.Groups = append(x.img.Groups, ig)
	}
}

func counts(m map[uint32]int) []imgASNCount {
	out := make([]imgASNCount, 0, len(m))
	for k, v := range m {
		out = append(out, imgASNCount{ASN: k, N: int32(v)})
	}
	slices.SortFunc(out, func(p, q imgASNCount) int { return cmp.Compare(p.ASN, q.ASN) })
	return out
}

func (x *index) event(e *event, incidents map[*incident]int) imgEvent {
	ie := imgEvent{ID: e.id, Kind: e.kind, Group: ref(x.groups, e.group, nil), Peer: e.peer, Start: e.start,
		Detected: e.detected, End: e.end, LastActive: e.lastActive, LastEmit: e.lastEmit, Dirty: e.dirty,
		Deviated: e.deviated, Peak: e.peak, Visible: e.visible, Reason: e.reason, StalePrefixes: e.stalePrefixes,
		Origins: counts(e.origins), Carriers: counts(e.carriers), ROV: slices.Clone(e.rov[:]), Transit: e.transit, Incident: -1,
		CauseN: e.causeN, Signals: e.signals, Cause: e.cause, Final: e.final}
	if e.incident != nil {
		ie.Incident = incidents[e.incident]
	}
	if h := e.hijack; h != nil {
		ie.Hijack = slices.Index(hijackKinds[:], h.kind) + 1
	}
	for s, b := range e.base {
		ie.Base = append(ie.Base, imgBase{Slot: x.slots[s], Present: b.present, Attrs: x.attr(b.attrs), Dev: b.dev,
			Unjudged: b.unjudged})
	}
	slices.SortFunc(ie.Base, func(p, q imgBase) int { return p.Slot - q.Slot })
	for p := range e.prefixes {
		ie.Prefixes = append(ie.Prefixes, p)
	}
	slices.SortFunc(ie.Prefixes, comparePrefix)
	for p, n := range e.peers {
		ie.Peers = append(ie.Peers, imgPeerCount{Peer: p, N: n})
	}
	for k, m := range e.trans {
		it := imgTrans{From: k.from, To: k.to}
		for p := range m {
			it.Prefixes = append(it.Prefixes, p)
		}
		ie.Trans = append(ie.Trans, it)
	}
	return ie
}

func imgSeq(s idSeq) imgIDSeq { return imgIDSeq{Kind: s.kind, Start: s.start, Seq: s.seq} }

func (s imgIDSeq) seq() idSeq { return idSeq{kind: s.Kind, start: s.Start, seq: s.Seq} }
