package redisline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

// The change log (queue/changelog.go): every script that changes the line
// appends one entry to the line's stream K.log in the same atomic step
// (lua/lib.lua, reply), its id "version-0", its fields
//
//	prev      the version before (0: the store had lost the line)
//	now       the line's clock, Unix ms
//	next      the earliest deadline after the step, Unix ms (0 = none)
//	share     one ticket's share of the wait, ms
//	counters  service slots
//	paused    0/1
//	ev        the step's events (queue.FormatEvents)
//
// trimmed to about Options.LogLength entries. A read model
// (queue/readmodel) loads the line with LoadPage and follows the log with
// ReadLog; *Line is its queue/readmodel.Source.

// LogClientName is the client name of the connection that reads the log,
// so an operator (or a fault test) can find it in CLIENT LIST.
const LogClientName = "catqms-log"

// logClient returns a client of its own for reading the log: a blocking
// read holds its connection for as long as it waits, and a name tells it
// apart. It never retries a read on a new connection by itself: a lost
// connection may have lost the line too (a restart, a failover), so its
// reader must know, and load the line again. A client it cannot copy is
// shared as it is.
func logClient(rdb redis.UniversalClient) (redis.UniversalClient, bool) {
	switch c := rdb.(type) {
	case *redis.Client:
		opt := *c.Options()
		opt.ClientName, opt.PoolSize, opt.MinIdleConns, opt.MaxRetries = LogClientName, 2, 0, -1
		return redis.NewClient(&opt), true
	case *redis.ClusterClient:
		opt := *c.Options()
		opt.ClientName, opt.PoolSize, opt.MinIdleConns, opt.MaxRetries = LogClientName, 2, 0, -1
		return redis.NewClusterClient(&opt), true
	}
	return rdb, false
}

// LoadPage reads one page of the line (queue.LinePage) in one step
// (lua/load.lua).
func (l *Line) LoadPage(ctx context.Context, after, top uint64, limit int) (queue.LinePage, error) {
	var r loadReply
	if err := l.call(ctx, "load", &r, after, top, max(limit, 1)); err != nil {
		return queue.LinePage{}, err
	}
	if r.Code != "ok" {
		return queue.LinePage{}, l.refusal("load", r.lineReply)
	}
	if len(r.Calls)%2 != 0 || len(r.Serving)%2 != 0 {
		return queue.LinePage{}, fmt.Errorf("redisline: load: %w", protocolErr("odd seq/time lists"))
	}
	pairs := func(list []int64) []queue.SeqTime {
		out := make([]queue.SeqTime, 0, len(list)/2)
		for i := 0; i < len(list); i += 2 {
			out = append(out, queue.SeqTime{Seq: uint64(list[i]), At: list[i+1]})
		}
		slices.SortFunc(out, func(a, b queue.SeqTime) int { return cmp.Compare(a.Seq, b.Seq) })
		return out
	}
	p := queue.LinePage{
		Version: r.Version, Now: r.Now, Next: r.Next, Share: r.Share,
		Counters: int(r.Counters), Paused: r.Paused, Length: r.Length,
		Head: uint64(r.Head), Top: uint64(r.Top),
		Called: pairs(r.Calls), Serving: pairs(r.Serving), Gone: make([]uint64, len(r.Gone)),
	}
	for i, seq := range r.Gone {
		p.Gone[i] = uint64(seq)
	}
	return p, nil
}

// ReadLog returns up to count entries of the change log after version
// after, oldest first, waiting up to block for one (block ≤ 0: no wait).
// None and no error: nothing new. A store that fails to answer is
// queue.CodeUnavailable.
func (l *Line) ReadLog(ctx context.Context, after int64, count int, block time.Duration) ([]queue.Change, error) {
	if out, ok, err := l.fromWindow(ctx, after, count, block); ok {
		return out, err // follow.go: what this replica's follower read already
	}
	args := &redis.XReadArgs{
		Streams: []string{l.logKey, strconv.FormatInt(after, 10) + "-0"},
		Count:   int64(max(count, 1)),
		Block:   -1,
	}
	if block > 0 {
		args.Block = max(block, time.Millisecond)
	}
	streams, err := l.logRDB.XRead(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, l.storeErr("read the change log", err)
	}
	var out []queue.Change
	for _, s := range streams {
		for _, msg := range s.Messages {
			c, err := parseChange(msg)
			if err != nil {
				return nil, fmt.Errorf("redisline: change log entry %s: %w", msg.ID, err)
			}
			out = append(out, c)
		}
	}
	// What a read model holds, this line has seen: its next step's floor
	// (lua/lib.lua) keeps the store's versions above it after a failover,
	// so a load never shows an older version than an entry did.
	for _, c := range out {
		l.saw(c.Version, c.Next)
	}
	return out, nil
}

// parseChange reads one entry of the log.
func parseChange(msg redis.XMessage) (queue.Change, error) {
	var c queue.Change
	v, seq, ok := strings.Cut(msg.ID, "-")
	var err error
	if c.Version, err = strconv.ParseInt(v, 10, 64); err != nil || !ok || seq != "0" {
		return c, protocolErr("id %q is not a version", msg.ID)
	}
	num := func(name string) int64 {
		s, _ := msg.Values[name].(string)
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil && err == nil {
			err = protocolErr("field %s %q is not an integer", name, s)
		}
		return n
	}
	c.Prev, c.Now, c.Next, c.Share = num("prev"), num("now"), num("next"), num("share")
	c.Counters, c.Paused = int(num("counters")), num("paused") == 1
	if err != nil {
		return c, err
	}
	ev, _ := msg.Values["ev"].(string)
	if c.Events, err = queue.ParseEvents(ev); err != nil {
		return c, protocolErr("%v", err)
	}
	c.Reason, _ = msg.Values["why"].(string) // an operator's reason; most entries have none
	return c, nil
}
