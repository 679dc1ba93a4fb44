package redisline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/catqms/catqms/queue"
	"github.com/redis/go-redis/v9"
)

var _ queue.Admin = (*Line)(nil)

// maxBanList is the most bans one Bans call lists.
const maxBanList = 1000

// adminScripts are the admin API's operations, one atomic script each:
// lib.lua, then admin_lib.lua, then the operation. They are built once and
// never change; go-redis loads each into the store on its first run.
var adminScripts = loadAdminScripts()

type adminScriptSet struct {
	pause, counters, callNext, skip, end, unban, bans *redis.Script
}

func loadAdminScripts() adminScriptSet {
	read := func(name string) string {
		src, err := luaFiles.ReadFile("lua/" + name + ".lua")
		if err != nil {
			panic(fmt.Sprintf("redisline: embedded script %s: %v", name, err)) // a build defect
		}
		return string(src)
	}
	prefix := read("lib") + "\n" + read("admin_lib") + "\n"
	load := func(name string) *redis.Script { return redis.NewScript(prefix + read(name)) }
	return adminScriptSet{
		pause:    load("admin_pause"),
		counters: load("admin_counters"),
		callNext: load("admin_call_next"),
		skip:     load("admin_skip"),
		end:      load("admin_end"),
		unban:    load("admin_unban"),
		bans:     load("admin_bans"),
	}
}

// adminOp runs an admin script and reads its answer (see
// lua/admin_lib.lua): the outcome, or the script's refusal as a domain
// error. subject names what the action was about, for messages.
func (l *Line) adminOp(ctx context.Context, sc *redis.Script, subject string, args ...any) (queue.Outcome, error) {
	op := queue.NewNonce() // the operation id: a replay answers, not acts (admin_lib.lua)
	v, err := l.run(ctx, sc, append(args, hex.EncodeToString(op[:]))...)
	if err != nil {
		return queue.Outcome{}, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return queue.Outcome{}, fmt.Errorf("admin script answered %T %v", v, v)
	}
	r, err := l.decodeResult(a[0])
	if err != nil {
		return queue.Outcome{}, err
	}
	if r.code != "ok" {
		return queue.Outcome{}, l.adminFailure(r, subject)
	}
	out := queue.Outcome{
		Version:  r.version,
		Counters: int(num(a[1])),
		Paused:   num(a[2]) == 1,
		Called:   []string{},
	}
	if r.seq != 0 {
		out.Ticket = queue.Label(r.seq)
	}
	called, _ := a[3].([]any)
	for _, s := range called {
		out.Called = append(out.Called, queue.Label(uint64(num(s))))
	}
	return out, nil
}

// adminFailure turns an admin script's refusal into a domain error.
func (l *Line) adminFailure(r result, subject string) error {
	switch r.code {
	case "nobody_waiting":
		return queue.Errorf(queue.CodeNobodyWaiting, "nobody is waiting to be called")
	case "counters_busy":
		return queue.Errorf(queue.CodeCountersBusy,
			"every counter holds a called ticket whose holder has not come yet; skip one to call the next")
	case "not_called":
		if r.seq == 0 {
			return queue.Errorf(queue.CodeNotCalled, "no ticket is called now")
		}
		return queue.Errorf(queue.CodeNotCalled, "ticket %s is %s, not called", queue.Label(r.seq), r.state)
	case "not_serving":
		return queue.Errorf(queue.CodeNotServing, "ticket %s is %s: it has no viewing session", queue.Label(r.seq), r.state)
	case "unknown":
		return queue.Errorf(queue.CodeNotFound, "there is no ticket %s in the line (finished tickets are kept a day)", subject)
	case "not_banned":
		return queue.Errorf(queue.CodeNotFound, "client %s is not banned", subject)
	}
	return fmt.Errorf("admin script answered unknown code %q", r.code)
}

// labelSeq returns the sequence number of label, or CodeBadRequest.
func labelSeq(label string) (uint64, error) {
	seq, ok := queue.ParseLabel(label)
	if !ok {
		return 0, queue.Errorf(queue.CodeBadRequest, "%.20q is not a ticket label (like A042)", label)
	}
	return seq, nil
}

// Pause implements queue.Admin.
func (l *Line) Pause(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, adminScripts.pause, "", "1")
}

// Resume implements queue.Admin.
func (l *Line) Resume(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, adminScripts.pause, "", "0")
}

// CallNext implements queue.Admin.
func (l *Line) CallNext(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, adminScripts.callNext, "")
}

// Skip implements queue.Admin.
func (l *Line) Skip(ctx context.Context, label string) (queue.Outcome, error) {
	var seq uint64
	if label != "" {
		var err error
		if seq, err = labelSeq(label); err != nil {
			return queue.Outcome{}, err
		}
	}
	return l.adminOp(ctx, adminScripts.skip, label, strconv.FormatUint(seq, 10))
}

// SetCounters implements queue.Admin.
func (l *Line) SetCounters(ctx context.Context, n int) (queue.Outcome, error) {
	if n < 1 || n > queue.MaxCounters {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "counters must be 1 to %d, not %d", queue.MaxCounters, n)
	}
	return l.adminOp(ctx, adminScripts.counters, "", n)
}

// EndSession implements queue.Admin.
func (l *Line) EndSession(ctx context.Context, label string) (queue.Outcome, error) {
	seq, err := labelSeq(label)
	if err != nil {
		return queue.Outcome{}, err
	}
	return l.adminOp(ctx, adminScripts.end, label, strconv.FormatUint(seq, 10))
}

// Unban implements queue.Admin.
func (l *Line) Unban(ctx context.Context, client string) (queue.Outcome, error) {
	if client == "" {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "name the client to unban")
	}
	return l.adminOp(ctx, adminScripts.unban, client, client)
}

// Bans implements queue.Admin.
func (l *Line) Bans(ctx context.Context, limit int) ([]queue.Ban, int64, error) {
	limit = min(max(limit, 1), maxBanList)
	v, err := l.run(ctx, adminScripts.bans, limit)
	if err != nil {
		return nil, 0, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return nil, 0, fmt.Errorf("bans script answered %T %v", v, v)
	}
	if _, err := l.decodeResult(a[0]); err != nil {
		return nil, 0, err
	}
	list, _ := a[2].([]any)
	bans := make([]queue.Ban, 0, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		bans = append(bans, queue.Ban{Client: str(list[i]), EndsAt: ms(num(list[i+1]))})
	}
	return bans, num(a[1]), nil
}

// AdminStats implements queue.Admin: Stats, and whether taking is paused.
// The two are read one after the other, not at one version: a pause that
// lands between them shows in the next call.
func (l *Line) AdminStats(ctx context.Context) (queue.AdminStats, error) {
	st, err := l.Stats(ctx)
	if err != nil {
		return queue.AdminStats{}, err
	}
	paused, err := l.rdb.HGet(ctx, l.prefix+"cfg", "paused").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return queue.AdminStats{}, l.storeErr(err)
	}
	return queue.AdminStats{Stats: st, Paused: paused == "1"}, nil
}
