package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/queue/readmodel"
	"github.com/catqms/catqms/queue/redisline"
)

// s7Memory is what the read model (queue/readmodel) costs a replica with a
// long line: its memory per waiting ticket and the time a replica takes
// to load the line, measured in this process on the same redisline.Line
// catqms runs, against the bench's redis-server.
type s7Memory struct {
	Waiting     int64    `json:"waiting"`
	Taken       int64    `json:"taken"`
	Left        int64    `json:"left"`
	Fill        string   `json:"fill_time"` // taking them (and the leaves), through the scripts
	FillRate    float64  `json:"fill_takes_per_s"`
	RedisBytes  float64  `json:"redis_bytes_per_ticket"` // INFO memory used_memory growth over the fill
	Loads       []s7Load `json:"loads"`
	LoadMs      float64  `json:"load_ms"`               // median
	HeapBytes   float64  `json:"heap_bytes_per_ticket"` // median: live heap growth after a GC / waiting
	SetBytes    float64  `json:"set_bytes_per_ticket"`  // the model's own count of its waiting set (Stats.WaitingBytes)
	Pages       int      `json:"pages"`
	LoadCPU     string   `json:"load_cpu"` // the CPU the fill and the loads ran on
	ModelTicket int      `json:"model_tickets"`
}

// s7Load is one load of the line by a fresh read model.
type s7Load struct {
	Ms        float64 `json:"ms"`
	HeapBytes int64   `json:"heap_bytes"`
	SetBytes  int     `json:"set_bytes"`
	Pages     int     `json:"pages"`
	Tickets   int     `json:"tickets"`
}

// runS7Memory fills the line with waiting tickets through the take
// script (and some leaves), then loads it reps times into a fresh read model, each time
// measuring the live heap before and after (after a GC) and the time the
// load took.
func runS7Memory(ctx context.Context, e *env, waiting int64) (*s7Memory, error) {
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	const workers = 64
	r := e.rdb(workers + 2)
	defer r.Close()
	line, err := redisline.New(ctx, r, redisline.Options{
		Name: lineName, Secret: []byte(benchSecret), Tick: -1,
		HeadWindow: 24 * time.Hour, MaxQueue: maxQueue, MaxTicketsPerClient: maxTicketsPerIP,
	})
	if err != nil {
		return nil, err
	}
	defer line.Close()
	res := &s7Memory{Waiting: waiting}
	mem0, err := redisUsedMemory(ctx, r)
	if err != nil {
		return nil, err
	}
	// No catqms runs now: the fill runs on the service CPU, so that it does
	// not share a core with Redis; then the load stays there, as a replica
	// on a core of its own would.
	if e.serviceCPU != "" {
		restore, err := pinSelf(e.serviceCPU)
		if err != nil {
			return nil, err
		}
		defer restore()
		res.LoadCPU = e.serviceCPU
	}
	// Every tenth ticket leaves as soon as it is taken, so that the load
	// reads a list of departed seqs, as in a line people leave.
	taken := waiting + waiting/9
	res.Taken, res.Left = taken, taken/10
	e.log("s7 read model: taking %d tickets, every tenth leaving: %d waiting", taken, taken-taken/10)
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := range workers {
		wg.Go(func() {
			client := "s7m-" + strconv.Itoa(w)
			for i := next.Add(1); i <= taken && ctx.Err() == nil; i = next.Add(1) {
				t, err := line.Take(ctx, client)
				if err == nil && i%10 == 0 {
					err = line.Leave(ctx, client, t.Token)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	took := time.Since(t0)
	res.Fill, res.FillRate = took.Round(time.Millisecond).String(), float64(taken)/took.Seconds()
	res.Waiting = taken - taken/10
	mem1, err := redisUsedMemory(ctx, r)
	if err != nil {
		return nil, err
	}
	res.RedisBytes = float64(mem1-mem0) / float64(res.Waiting)
	waiting = res.Waiting

	for range max(e.reps, 1) {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		rm := readmodel.New(line, readmodel.Options{})
		if err := rm.Sync(ctx); err != nil {
			return nil, fmt.Errorf("read model load: %w", err)
		}
		load := s7Load{Ms: ms(time.Since(start))}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		st := rm.Stats()
		load.HeapBytes = int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
		load.SetBytes, load.Pages, load.Tickets = st.WaitingBytes, st.LastPages, st.Tickets
		runtime.KeepAlive(rm)
		if int64(load.Tickets) != waiting {
			return nil, fmt.Errorf("the read model holds %d tickets, want %d", load.Tickets, waiting)
		}
		res.Loads = append(res.Loads, load)
		e.log("s7 read model: %d waiting loaded in %.0f ms (%d pages); live heap +%.1f MB: %.1f bytes per ticket (waiting set %.1f)",
			waiting, load.Ms, load.Pages, float64(load.HeapBytes)/(1<<20), float64(load.HeapBytes)/float64(waiting), float64(load.SetBytes)/float64(waiting))
	}
	res.LoadMs = medianOf(res.Loads, func(l s7Load) float64 { return l.Ms })
	res.HeapBytes = medianOf(res.Loads, func(l s7Load) float64 { return float64(l.HeapBytes) }) / float64(waiting)
	res.SetBytes = medianOf(res.Loads, func(l s7Load) float64 { return float64(l.SetBytes) }) / float64(waiting)
	res.Pages = res.Loads[0].Pages
	res.ModelTicket = res.Loads[0].Tickets
	return res, e.flush(ctx)
}

// redisUsedMemory is INFO memory's used_memory, in bytes.
func redisUsedMemory(ctx context.Context, r *redis.Client) (int64, error) {
	info, err := r.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no used_memory")
}
