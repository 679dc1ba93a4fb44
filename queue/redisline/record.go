package redisline

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/record"
	"github.com/redis/go-redis/v9"
)

// The public record (queue/record) is the change log, sealed by the
// service. The log is kept for --history by age, not by the scripts' count
// cap (Options.LogLength, a safety cap well above it): a service-side
// step (TrimRecord) seals the entries older than the cutoff, and in one
// script drops them and moves the anchor, the version and hash of the last
// entry dropped, beside the log (K.anchor below). The anchor moves only if
// it is still the one the step read (a compare-and-set), so two replicas
// trimming at once agree: one moves it, the other finds it moved and
// leaves the log alone until its next turn.

// anchorSuffix names the record's anchor: a HASH version, hash. It is not
// in lineKeys because no line script reads it, only trimScript.
const anchorSuffix = "anchor"

// trimBatch is how many entries one trimming script drops at most, so a
// long backlog is dropped in short steps that never hold the store long.
const trimBatch = 1000

// trimScript moves the anchor from ARGV[1..2] to ARGV[3..4] and drops the
// log's entries up to version ARGV[3], unless another trim moved it first
// (answers 0).
var trimScript = redis.NewScript(`
local a = redis.call('HMGET', KEYS[1], 'version', 'hash')
if (a[1] or '0') ~= ARGV[1] or (a[2] or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[3], 'hash', ARGV[4])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[5])
return 1
`)

// RecordAnchor returns the record's anchor: the version and hash of the
// last entry trimmed off the log; zero when none ever was.
func (l *Line) RecordAnchor(ctx context.Context) (record.Anchor, error) {
	v, err := l.rdb.HMGet(ctx, l.prefix+anchorSuffix, "version", "hash").Result()
	if err != nil {
		return record.Anchor{}, l.storeErr("read the record's anchor", err)
	}
	var a record.Anchor
	if s, ok := v[0].(string); ok {
		if a.Version, err = strconv.ParseInt(s, 10, 64); err != nil {
			return a, fmt.Errorf("redisline: the record's anchor: %w", protocolErr("version %q", s))
		}
	}
	a.Hash, _ = v[1].(string)
	return a, nil
}

// LogRange returns up to count entries of the change log whose versions
// are in [lo, hi], oldest first, or newest first when newestFirst.
func (l *Line) LogRange(ctx context.Context, lo, hi int64, count int, newestFirst bool) ([]queue.Change, error) {
	if lo > hi {
		return nil, nil
	}
	from, to := strconv.FormatInt(max(lo, 0), 10)+"-0", strconv.FormatInt(hi, 10)+"-0"
	var msgs []redis.XMessage
	var err error
	if newestFirst {
		msgs, err = l.rdb.XRevRangeN(ctx, l.logKey, to, from, int64(max(count, 1))).Result()
	} else {
		msgs, err = l.rdb.XRangeN(ctx, l.logKey, from, to, int64(max(count, 1))).Result()
	}
	if err != nil {
		return nil, l.storeErr("read the change log", err)
	}
	out := make([]queue.Change, 0, len(msgs))
	for _, msg := range msgs {
		c, err := parseChange(msg)
		if err != nil {
			return nil, fmt.Errorf("redisline: change log entry %s: %w", msg.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// RecordEntry is the record's entry for one entry of the change log, not
// sealed.
func RecordEntry(c queue.Change) (record.Entry, error) {
	evs := make([]record.LogEvent, len(c.Events))
	for i, e := range c.Events {
		evs[i] = record.LogEvent{Letter: byte(e.Kind), Seq: e.Seq, At: e.At}
	}
	return record.FromLog(c.Version, c.Prev, c.Now, c.Counters, c.Reason, evs)
}

// TrimRecord drops the log's entries older than before (the line's clock
// of each entry) and moves the record's anchor past them, in steps of
// trimBatch. It returns how many entries it dropped. A log whose first
// entry does not follow the anchor (the count cap cut it first) is
// record.ErrUnanchored: nothing is dropped, the record is left as it is.
func (l *Line) TrimRecord(ctx context.Context, before time.Time) (int, error) {
	cutoff, dropped := before.UnixMilli(), 0
	for {
		anchor, err := l.RecordAnchor(ctx)
		if err != nil {
			return dropped, err
		}
		changes, err := l.LogRange(ctx, anchor.Version+1, math.MaxInt64, trimBatch, false)
		if err != nil {
			return dropped, err
		}
		n := 0
		for n < len(changes) && changes[n].Now < cutoff {
			n++
		}
		if n == 0 {
			return dropped, nil
		}
		entries := make([]record.Entry, n)
		for i, c := range changes[:n] {
			if entries[i], err = RecordEntry(c); err != nil {
				return dropped, err
			}
		}
		next, err := record.Chain(anchor, entries)
		if err != nil {
			return dropped, err
		}
		ok, err := trimScript.Run(ctx, l.rdb, []string{l.prefix + anchorSuffix, l.logKey},
			strconv.FormatInt(anchor.Version, 10), anchor.Hash,
			strconv.FormatInt(next.Version, 10), next.Hash,
			strconv.FormatInt(next.Version+1, 10)+"-0").Int()
		if err != nil {
			return dropped, l.storeErr("trim the change log", err)
		}
		if ok == 0 {
			return dropped, nil // another replica trimmed meanwhile: its turn
		}
		dropped += n
		if n < trimBatch {
			return dropped, nil
		}
	}
}
