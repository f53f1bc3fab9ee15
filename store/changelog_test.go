package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"routewatch/route"
)

// changeLogger is what both backends offer for the event change log.
type changeLogger interface {
	AppendChanges(ctx context.Context, chs []route.EventChange) ([]uint64, error)
	ChangesAfter(ctx context.Context, after uint64, limit int) ([]ChangeRecord, error)
	LastChange(ctx context.Context) (uint64, error)
}

func changeLogSuite(t *testing.T, mk func(t *testing.T) changeLogger) {
	ctx := context.Background()
	ev := func(id string, open bool) route.Event {
		e := route.Event{ID: id, Kind: route.KindPathShift, Provider: "aws", Region: "us-west-2",
			Start: time.Date(2021, 12, 15, 15, 14, 3, 0, time.UTC), Prefixes: 3}
		if !open {
			end := e.Start.Add(time.Hour)
			e.End = &end
		}
		return e
	}
	t.Run("ordered sequence and resume", func(t *testing.T) {
		l := mk(t)
		if last, err := l.LastChange(ctx); err != nil || last != 0 {
			t.Fatalf("LastChange of an empty log = %d, %v", last, err)
		}
		seqs, err := l.AppendChanges(ctx, []route.EventChange{{Change: route.EventOpened, Event: ev("a", true)}, {Change: route.EventUpdated, Event: ev("a", true)}})
		if err != nil || len(seqs) != 2 || seqs[1] != seqs[0]+1 {
			t.Fatalf("AppendChanges = %v, %v; want two consecutive numbers", seqs, err)
		}
		more, err := l.AppendChanges(ctx, []route.EventChange{{Change: route.EventResolved, Event: ev("a", false)}})
		if err != nil || more[0] != seqs[1]+1 {
			t.Fatalf("second AppendChanges = %v, %v", more, err)
		}
		if last, err := l.LastChange(ctx); err != nil || last != more[0] {
			t.Errorf("LastChange = %d, %v; want %d", last, err, more[0])
		}
		all, err := l.ChangesAfter(ctx, 0, 0)
		if err != nil || len(all) != 3 {
			t.Fatalf("ChangesAfter(0) = %d records, %v; want 3", len(all), err)
		}
		if all[2].Change != route.EventResolved || all[2].Event.End == nil || all[2].Event.ID != "a" || all[2].Event.Region != "us-west-2" {
			t.Errorf("last record = %+v", all[2])
		}
		tail, err := l.ChangesAfter(ctx, seqs[0], 0)
		if err != nil || len(tail) != 2 || tail[0].Seq != seqs[1] {
			t.Errorf("ChangesAfter(%d) = %+v, %v; want records from %d", seqs[0], tail, err, seqs[1])
		}
		page, err := l.ChangesAfter(ctx, 0, 1)
		if err != nil || len(page) != 1 || page[0].Seq != seqs[0] {
			t.Errorf("ChangesAfter limit 1 = %+v, %v", page, err)
		}
		none, err := l.ChangesAfter(ctx, more[0], 0)
		if err != nil || len(none) != 0 {
			t.Errorf("ChangesAfter(last) = %+v, %v; want none", none, err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		l := mk(t)
		chs := make([]route.EventChange, 500)
		for i := range chs {
			chs[i] = route.EventChange{Change: route.EventUpdated, Event: ev("b", true)}
		}
		for range (ChangeLogLen + 2000) / len(chs) {
			if _, err := l.AppendChanges(ctx, chs); err != nil {
				t.Fatal(err)
			}
		}
		first, err := l.ChangesAfter(ctx, 0, 1)
		if err != nil || len(first) != 1 {
			t.Fatalf("ChangesAfter = %v, %v", first, err)
		}
		// Redis trims approximately (whole macro nodes): some slack.
		if first[0].Seq <= 1000 {
			t.Errorf("oldest kept seq = %d; the log was not trimmed", first[0].Seq)
		}
	})
}

func TestMemoryChangeLog(t *testing.T) {
	changeLogSuite(t, func(t *testing.T) changeLogger { return NewMemory(MemoryConfig{}) })
}

func TestRedisChangeLog(t *testing.T) {
	changeLogSuite(t, func(t *testing.T) changeLogger { return newTestRedis(t, RedisConfig{}) })
}

// FuzzDecodeChange: any stored change log entry decodes or errors, never
// panics, and a decoded one re-encodes to an equal record.
func FuzzDecodeChange(f *testing.F) {
	f.Add("7-1", "opened", []byte(`{"id":"a","kind":"path_shift","start":"2021-12-15T15:14:03Z","end":null}`))
	f.Add("x-1", "updated", []byte(`{}`))
	f.Add("18446744073709551615-1", "", []byte(`null`))
	f.Add("1", "resolved", []byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, id, kind string, data []byte) {
		rec, err := decodeChange(redis.XMessage{ID: id, Values: map[string]any{"k": kind, "e": string(data)}})
		if err != nil {
			return
		}
		if rec.Change != route.ChangeKind(kind) {
			t.Fatalf("kind %q, want %q", rec.Change, kind)
		}
		b, err := json.Marshal(rec.Event)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeChange(redis.XMessage{ID: id, Values: map[string]any{"k": kind, "e": string(b)}})
		if err != nil || again.Seq != rec.Seq || again.Event.ID != rec.Event.ID || !again.Event.Start.Equal(rec.Event.Start) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, rec)
		}
	})
}
