package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// The Redis change log is a Stream whose entry ids are "<seq>-1", with seq
// from a counter in the same hash slot, so ids are the contiguous sequence
// numbers the SSE stream hands out and every writer appends in one order.
//
//	KEYS[1] counter, KEYS[2] stream; ARGV[1] max length, then pairs of
//	change kind and event JSON. Returns the sequence numbers.
var appendChangesScript = redis.NewScript(`
local out = {}
for i = 2, #ARGV, 2 do
  local s = redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], s .. '-1', 'k', ARGV[i], 'e', ARGV[i+1])
  out[#out+1] = s
end
return out
`)

func (k keys) changeSeq() string { return k.pre + ":{chg}:seq" }
func (k keys) changeLog() string { return k.pre + ":{chg}:log" }

// AppendChanges appends event changes in order and returns their sequence
// numbers.
func (r *Redis) AppendChanges(ctx context.Context, chs []route.EventChange) (seqs []uint64, err error) {
	defer r.observe("append_changes", time.Now(), &err)
	if len(chs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+2*len(chs))
	args = append(args, ChangeLogLen)
	for _, c := range chs {
		b, err := json.Marshal(c.Event)
		if err != nil {
			return nil, fmt.Errorf("store: append changes: %w", err)
		}
		args = append(args, string(c.Change), b)
	}
	res, err := appendChangesScript.Run(ctx, r.c, []string{r.k.changeSeq(), r.k.changeLog()}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("store: append changes: %w", err)
	}
	seqs = make([]uint64, len(res))
	for i, s := range res {
		seqs[i] = uint64(s)
	}
	return seqs, nil
}

// ChangesAfter returns up to limit records with Seq > after, oldest first
// (limit <= 0: DefaultLimit; capped at MaxLimit). Trimmed records are gone:
// the first record returned may then be later than after+1.
func (r *Redis) ChangesAfter(ctx context.Context, after uint64, limit int) (out []ChangeRecord, err error) {
	defer r.observe("changes_after", time.Now(), &err)
	msgs, err := r.c.XRangeN(ctx, r.k.changeLog(), strconv.FormatUint(after+1, 10)+"-0", "+", int64(clampLimit(limit))).Result()
	if err != nil {
		return nil, fmt.Errorf("store: changes after: %w", err)
	}
	out = make([]ChangeRecord, 0, len(msgs))
	for _, m := range msgs {
		rec, err := decodeChange(m)
		if err != nil {
			r.log.Warn("store: skipped a corrupt change log entry", "id", m.ID, "err", err)
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

func decodeChange(m redis.XMessage) (ChangeRecord, error) {
	seqPart, _, _ := strings.Cut(m.ID, "-")
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if err != nil {
		return ChangeRecord{}, fmt.Errorf("store: decode change: id %q: %w", m.ID, err)
	}
	k, _ := m.Values["k"].(string)
	e, _ := m.Values["e"].(string)
	rec := ChangeRecord{Seq: seq, Change: route.ChangeKind(k)}
	if err := json.Unmarshal([]byte(e), &rec.Event); err != nil {
		return ChangeRecord{}, fmt.Errorf("store: decode change %s: %w", m.ID, err)
	}
	return rec, nil
}

// LastChange is the sequence number of the newest record (0: none yet).
func (r *Redis) LastChange(ctx context.Context) (seq uint64, err error) {
	defer r.observe("last_change", time.Now(), &err)
	s, err := r.c.Get(ctx, r.k.changeSeq()).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: last change: %w", err)
	}
	return s, nil
}
