package store

import (
	"net/netip"
	"strconv"
	"strings"

	"routewatch/route"
)

// keys lays out the key space. Per-prefix keys share a {p:...} hash tag so
// one script updates routes and history atomically on a cluster slot;
// small global structures each live under one tag. With prefix "rw":
//
//	rw:{p:192.0.2.0/24}:r   hash: "addr asn pathid" -> "<since ns> <epoch>\n<attrs>",
//	                        plus \x00n (paths), \x00seq, \x00tags, \x00hz (history horizon)
//	rw:{p:192.0.2.0/24}:h   list: history entries, newest first (count/age bounded)
//	rw:{i}:pfx4, :pfx6      zset (lex): prefixes with paths, for covered lookups
//	rw:{a:16509}:p          zset (lex): prefixes whose paths contain the ASN (cleaned lazily)
//	rw:{peers}:all, :p:<vp>, :h:<vp>       vantage point set, peer hash, session history list
//	rw:{peers}:n:<vp>                      set of the peer's paths ("prefix pathid"): SCARD = count
//	                        <vp> is the vantage point id: "addr", or "addr c=rrc00&v=1" (vantage.go);
//	                        route fields append the same token: "addr asn pathid c=rrc00"
//	rw:{peers}:ver                         random token, replaced with every session change (status cache)
//	rw:{inv}                               pub/sub channel: change notices (prefix, or "peers"; invalidate.go)
//	rw:{g}:all, :m:<grp>, :c:<grp>         groups, member prefixes, per-minute change counts
//	rw:{ev}:d, :x, :ix:<facet>             events JSON, index membership, lex indexes (start|id)
//	rw:{ev}:ver                            random token, replaced with every event put (EventsVersion)
//	rw:{ob}:d, :due, :fin, :out            outbox records, due/lease zset, finished ids, outcomes
//	rw:{meta}:run                          run id: a different one means Redis lost data
//	rw:{ck}                                hash: checkpoint name -> "<at ns>\n<data>" (Checkpoints)
//	rw:{s:updates}                         the update stream
type keys struct{ pre string }

func (k keys) routes(p netip.Prefix) string { return k.pre + ":{p:" + p.String() + "}:r" }
func (k keys) hist(p netip.Prefix) string   { return k.pre + ":{p:" + p.String() + "}:h" }
func (k keys) family(is4 bool) string {
	if is4 {
		return k.pre + ":{i}:pfx4"
	}
	return k.pre + ":{i}:pfx6"
}
func (k keys) asn(a uint32) string          { return k.pre + ":{a:" + strconv.FormatUint(uint64(a), 10) + "}:p" }
func (k keys) peer(v vantage) string        { return k.pre + ":{peers}:p:" + v.id() }
func (k keys) peers() string                { return k.pre + ":{peers}:all" }
func (k keys) peersVer() string             { return k.pre + ":{peers}:ver" }
func (k keys) inv() string                  { return k.pre + ":{inv}" }
func (k keys) sessions(v vantage) string    { return k.pre + ":{peers}:h:" + v.id() }
func (k keys) peerPaths(v vantage) string   { return k.pre + ":{peers}:n:" + v.id() }
func (k keys) groups() string               { return k.pre + ":{g}:all" }
func (k keys) groupMembers(g string) string { return k.pre + ":{g}:m:" + g }
func (k keys) groupChanges(g string) string { return k.pre + ":{g}:c:" + g }
func (k keys) evData() string               { return k.pre + ":{ev}:d" }
func (k keys) evIndexOf() string            { return k.pre + ":{ev}:x" }
func (k keys) evIndex(name string) string   { return k.pre + ":{ev}:ix:" + name }
func (k keys) evVer() string                { return k.pre + ":{ev}:ver" }
func (k keys) obData() string               { return k.pre + ":{ob}:d" }
func (k keys) obDue() string                { return k.pre + ":{ob}:due" }
func (k keys) obFinished() string           { return k.pre + ":{ob}:fin" }
func (k keys) obOutcome() string            { return k.pre + ":{ob}:out" }
func (k keys) checkpoints() string          { return k.pre + ":{ck}" }
func (k keys) run() string                  { return k.pre + ":{meta}:run" }
func (k keys) stream(name string) string    { return k.pre + ":{s:" + name + "}" }
func groupName(g route.Group) string        { return g.Provider + "\t" + g.Region }
func parseGroupName(s string) route.Group {
	p, r, _ := strings.Cut(s, "\t")
	return route.Group{Provider: p, Region: r}
}
