package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/redisline"
)

// s3Result: position lookup (the status script) and take at several line
// lengths, measured inside Redis (INFO commandstats usec_per_call) against
// ZRANK on the same sorted set, plus SLOWLOG entries over 1 ms.
type s3Result struct {
	Levels []s3Level `json:"levels"`
}

type s3Level struct {
	Waiting    int64       `json:"waiting"`
	Command    string      `json:"command"`     // how catqms runs its operations: fcall (functions) or evalsha (scripts)
	StatusUsec float64     `json:"status_usec"` // the status operation, median of reps
	TakeUsec   float64     `json:"take_usec"`   // the take operation
	ZRankUsec  float64     `json:"zrank_usec"`
	FloorUsec  float64     `json:"script_floor_usec"`             // EVALSHA of a script that only runs the same ZRANK
	FnFloor    float64     `json:"function_floor_usec,omitempty"` // FCALL of a function that only runs the same ZRANK
	LeastUsec  float64     `json:"least_lookup_usec,omitempty"`   // FCALL of leastLibrary's lookup (fcall runs only)
	Reps       []s3Rep     `json:"reps"`
	Slow       []slowEntry `json:"slowlog"` // entries over 1 ms during the measured calls
	Calls      int         `json:"calls_per_phase"`
}

type s3Rep struct {
	Status, Take, ZRank, Floor, FnFloor, Least float64
}

// floorScript is the least a script doing a position lookup can cost: the
// EVALSHA dispatch around the one ZRANK it needs; floorLibrary is the
// same as a function (FCALL), the way catqms runs its operations on a
// Redis with functions.
var floorScript = redis.NewScript(`return redis.call('ZRANK', KEYS[1], ARGV[1])`)

const floorLibrary = "#!lua name=bench_floor\n" +
	"redis.register_function('bench_zrank', function(keys, args) return redis.call('ZRANK', keys[1], args[1]) end)\n"

// leastLibrary's bench_least_lookup is the least a lookup can cost that
// answers what the status operation answers: called with the status
// function's keys and arguments (redisline.ScriptArgs, then client, seq,
// nonce), it makes the two reads no lookup can skip, the version with the
// line's facts and head (one MGET) and the ticket's record (one HMGET),
// checks the nonce and returns the same 18-value reply. It does nothing
// else: no clock (its now is 0), no operator's settings, no ban check, no
// catch-up, no error paths. It is a yardstick, not a lookup catqms could
// run: what lies between it and the status operation is what those cost.
// It reads the key layout and the facts' shape as lua/lib.lua and keys.go
// write them (as fillLine writes the line); runS3 checks its positions
// against the status operation's before measuring, so a layout that
// changed fails the run instead of measuring something else.
const leastLibrary = "#!lua name=bench_least\n" +
	"redis.register_function('bench_least_lookup', function(keys, args)\n" +
	"  local p, seq = args[1], tonumber(args[13])\n" +
	"  local m = redis.call('MGET', keys[1], p .. 'facts', p .. 'head')\n" +
	"  local _, nd, nc, _, ew = struct.unpack('<dddddddd', m[2])\n" +
	"  local h = redis.call('HMGET', p .. 't:' .. args[13], 's', 'n', 'dl', 'un')\n" +
	"  if h[2] ~= args[14] then return redis.error_reply('bench_least_lookup: no such ticket') end\n" +
	"  if ew < 0 then ew = tonumber(args[5]) end\n" +
	"  return {'code', 'ok', 'seq', seq, 'state', h[1], 'position', nc + seq - tonumber(m[3]) + 1,\n" +
	"    'version', tonumber(m[1]), 'now', 0, 'called', nc, 'share', math.ceil(ew / tonumber(args[3])), 'next', nd}\n" +
	"end)\n"

// floor is the floor a lookup run with command is judged against: the
// function's when catqms runs functions, the script's when it runs scripts.
func (lv s3Level) floor() float64 {
	if lv.Command == "fcall" && lv.FnFloor > 0 {
		return lv.FnFloor
	}
	return lv.FloorUsec
}

func runS3(ctx context.Context, e *env) (*s3Result, error) {
	levels := []int64{1_000, 100_000, 1_000_000}
	calls, takes, sample, workers := 5000, 2000, 1000, 8
	if e.quick {
		levels = []int64{1_000, 10_000, 100_000}
		calls, takes, sample = 1000, 500, 200
	}
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	// No service runs during S3: the load moves to the service CPU, so that
	// Redis has its CPU to itself and SLOWLOG shows the scripts' own cost.
	if e.serviceCPU != "" {
		restore, err := pinSelf(e.serviceCPU)
		if err != nil {
			return nil, err
		}
		defer restore()
		e.log("s3: load generator moved to CPU %s; Redis alone on its CPU", e.serviceCPU)
	}
	r := e.rdb(workers + 2)
	defer r.Close()
	if err := r.ConfigSet(ctx, "slowlog-log-slower-than", "1000").Err(); err != nil {
		return nil, err
	}
	if err := r.FunctionLoadReplace(ctx, floorLibrary).Err(); err != nil {
		return nil, err
	}
	if err := r.FunctionLoadReplace(ctx, leastLibrary).Err(); err != nil {
		return nil, err
	}
	// The same Line catqms runs, in process, without its scheduler: the
	// calls below are exactly catqms's calls.
	line, err := redisline.New(ctx, r, redisline.Options{
		Name: lineName, Secret: []byte(benchSecret), Tick: -1,
		MaxQueue: maxQueue, MaxTicketsPerClient: maxTicketsPerIP,
	})
	if err != nil {
		return nil, err
	}
	defer line.Close()
	signer := line.Signer()

	res := &s3Result{}
	var filled int64
	for _, n := range levels {
		if err := fillLine(ctx, r, filled, n); err != nil {
			return nil, err
		}
		filled = n
		// Tickets to look up: spread over the whole line, each with a
		// record and a token as if it had been taken.
		sample := min(sample, int(n/2))
		tokens := make([]string, sample)
		members := make([]string, sample)
		nonces := make([]string, sample)
		pipe := r.Pipeline()
		picked := map[uint64]bool{}
		for i := range sample {
			seq := uint64(2 + rand.Int64N(n-1))
			for picked[seq] {
				seq = uint64(2 + rand.Int64N(n-1))
			}
			picked[seq] = true
			nonce := queue.NewNonce()
			nonces[i] = hex.EncodeToString(nonce[:])
			pipe.HSet(ctx, fmt.Sprintf("%st:%d", linePrefix, seq), "s", "waiting", "c", "s3", "n", nonces[i], "tk", time.Now().UnixMilli())
			tokens[i] = signer.Token(seq, nonce)
			members[i] = strconv.FormatUint(seq, 10)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		if err := line.Advance(ctx); err != nil { // the head is called once, before measuring
			return nil, err
		}
		lv := s3Level{Waiting: n, Calls: calls, Command: line.Command()}
		least := func(i int) ([]any, error) {
			args := append(redisline.ScriptArgs(line.Settings()), "s3", members[i], nonces[i])
			return r.FCall(ctx, "bench_least_lookup", []string{linePrefix + "ver"}, args...).Slice()
		}
		if lv.Command == "fcall" {
			if err := checkLeast(ctx, line, least, tokens); err != nil {
				return nil, err
			}
		}
		if err := r.SlowLogReset(ctx).Err(); err != nil {
			return nil, err
		}
		for range e.reps {
			var rep s3Rep
			if rep.Status, err = measureCmd(ctx, r, line.Command(), workers, calls, func(i int) error {
				t, err := line.Status(ctx, "s3", tokens[i%sample])
				if err == nil && t.Position < 1 {
					err = fmt.Errorf("status of %s: position %d", tokens[i%sample][:8], t.Position)
				}
				return err
			}); err != nil {
				return nil, err
			}
			if rep.ZRank, err = measureCmd(ctx, r, "zrank", workers, calls, func(i int) error {
				return r.ZRank(ctx, linePrefix+"line", members[i%sample]).Err()
			}); err != nil {
				return nil, err
			}
			if rep.Floor, err = measureCmd(ctx, r, "evalsha", workers, calls, func(i int) error {
				return floorScript.Run(ctx, r, []string{linePrefix + "line"}, members[i%sample]).Err()
			}); err != nil {
				return nil, err
			}
			if rep.FnFloor, err = measureCmd(ctx, r, "fcall", workers, calls, func(i int) error {
				return r.FCall(ctx, "bench_zrank", []string{linePrefix + "line"}, members[i%sample]).Err()
			}); err != nil {
				return nil, err
			}
			if lv.Command == "fcall" {
				if rep.Least, err = measureCmd(ctx, r, "fcall", workers, calls, func(i int) error {
					_, err := least(i % sample)
					return err
				}); err != nil {
					return nil, err
				}
			}
			if rep.Take, err = measureCmd(ctx, r, line.Command(), workers, takes, func(i int) error {
				_, err := line.Take(ctx, "s3")
				return err
			}); err != nil {
				return nil, err
			}
			// The measured calls' SLOWLOG entries, read before the bench
			// takes the new tickets off the line again (so the length
			// stays n): that trim is the bench's own command, and at
			// 1,000,000 waiting it may take a millisecond itself.
			slow, err := slowlog(ctx, r)
			if err != nil {
				return nil, err
			}
			lv.Slow = append(lv.Slow, slow...)
			if err := trimLine(ctx, r, n); err != nil {
				return nil, err
			}
			if err := r.SlowLogReset(ctx).Err(); err != nil {
				return nil, err
			}
			lv.Reps = append(lv.Reps, rep)
		}
		lv.StatusUsec = medianOf(lv.Reps, func(x s3Rep) float64 { return x.Status })
		lv.TakeUsec = medianOf(lv.Reps, func(x s3Rep) float64 { return x.Take })
		lv.ZRankUsec = medianOf(lv.Reps, func(x s3Rep) float64 { return x.ZRank })
		lv.FloorUsec = medianOf(lv.Reps, func(x s3Rep) float64 { return x.Floor })
		lv.FnFloor = medianOf(lv.Reps, func(x s3Rep) float64 { return x.FnFloor })
		lv.LeastUsec = medianOf(lv.Reps, func(x s3Rep) float64 { return x.Least })
		e.log("s3 %d waiting (%s): status %.1fµs, take %.1fµs, ZRANK %.2fµs, one-ZRANK script %.2fµs, function %.2fµs, least lookup %.2fµs per call; slowlog >1ms: %d",
			n, lv.Command, lv.StatusUsec, lv.TakeUsec, lv.ZRankUsec, lv.FloorUsec, lv.FnFloor, lv.LeastUsec, len(lv.Slow))
		res.Levels = append(res.Levels, lv)
	}
	return res, nil
}

// checkLeast makes sure leastLibrary's lookup answers what the status
// operation answers for the first few sample tickets (their position and
// state), so that it measures a lookup and not a failure.
func checkLeast(ctx context.Context, line *redisline.Line, least func(int) ([]any, error), tokens []string) error {
	for i := range min(len(tokens), 20) {
		t, err := line.Status(ctx, "s3", tokens[i])
		if err != nil {
			return err
		}
		a, err := least(i)
		if err != nil {
			return fmt.Errorf("least lookup: %w", err)
		}
		got := map[string]any{}
		for j := 0; j+1 < len(a); j += 2 {
			got[fmt.Sprint(a[j])] = a[j+1]
		}
		if got["position"] != t.Position || got["state"] != "waiting" {
			return fmt.Errorf("least lookup of ticket %d answers %v; status answers position %d, state %s: lua/lib.lua's layout changed, change leastLibrary with it", t.Seq, got, t.Position, t.State)
		}
	}
	return nil
}

// fillLine adds tickets from+1…to to the line's sorted set (no records:
// only looked-up tickets need one) and sets the ticket counter to to.
func fillLine(ctx context.Context, r *redis.Client, from, to int64) error {
	const batch = 1000
	pipe := r.Pipeline()
	queued := 0
	for start := from + 1; start <= to; start += batch {
		zs := make([]redis.Z, 0, batch)
		for s := start; s < start+batch && s <= to; s++ {
			zs = append(zs, redis.Z{Score: float64(s), Member: s})
		}
		pipe.ZAdd(ctx, linePrefix+"line", zs...)
		if queued++; queued == 100 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			queued = 0
		}
	}
	pipe.Set(ctx, linePrefix+"seq", to, 0)
	_, err := pipe.Exec(ctx)
	return err
}

// trimLine removes tickets after n and resets the counter.
func trimLine(ctx context.Context, r *redis.Client, n int64) error {
	pipe := r.Pipeline()
	pipe.ZRemRangeByScore(ctx, linePrefix+"line", "("+strconv.FormatInt(n, 10), "+inf")
	pipe.Set(ctx, linePrefix+"seq", n, 0)
	_, err := pipe.Exec(ctx)
	return err
}

// measureCmd resets INFO commandstats, makes calls calls of do from workers
// goroutines, and returns usec_per_call of cmd.
func measureCmd(ctx context.Context, r *redis.Client, cmd string, workers, calls int, do func(i int) error) (float64, error) {
	if err := r.ConfigResetStat(ctx).Err(); err != nil {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return 0, first
	}
	st, err := commandStats(ctx, r)
	if err != nil {
		return 0, err
	}
	s, ok := st[cmd]
	if !ok || s.Calls < int64(calls) {
		return 0, fmt.Errorf("commandstats %s: %+v after %d calls", cmd, s, calls)
	}
	return s.UsecPerCall, nil
}

// pinSelf moves every thread of this process to the CPUs in list and
// returns a function that moves them back.
func pinSelf(list string) (restore func(), err error) {
	pid := strconv.Itoa(os.Getpid())
	out, err := exec.Command("taskset", "-p", "-c", pid).Output()
	if err != nil {
		return nil, fmt.Errorf("taskset -p: %w", err)
	}
	_, was, ok := strings.Cut(strings.TrimSpace(string(out)), ": ")
	if !ok {
		return nil, fmt.Errorf("taskset -p: cannot read %q", out)
	}
	if out, err := exec.Command("taskset", "-a", "-p", "-c", list, pid).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("taskset -a -p -c %s: %w: %s", list, err, out)
	}
	return func() { _ = exec.Command("taskset", "-a", "-p", "-c", was, pid).Run() }, nil
}
