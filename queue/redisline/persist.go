package redisline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The embedded store keeps everything in memory. With a data directory it
// also saves a snapshot of every key there (storeFile), written whole to a
// temporary file and renamed over the last one, so that the file on disk is
// always one complete snapshot: the line as it was at the last save. It is
// saved every SaveInterval when something changed, and once more when the
// store stops; a start loads it. A process that is killed loses at most the
// changes since the last save.
//
// A save reads the whole store in one script, which holds the store while
// it runs (about 25µs a key: BenchmarkEmbeddedSave, 97ms for 2,000 tickets).
// So that saving never holds the store more than a tenth of the time, the
// next save waits at least saveShare times as long as the last one took.
const (
	storeFile       = "store.json"
	lockFile        = "lock"
	storeFormat     = 1
	defaultSaveTick = time.Second
	saveTimeout     = 10 * time.Second
	saveShare       = 10
)

// EmbeddedOptions configure the embedded store.
type EmbeddedOptions struct {
	// Dir is where the store is saved; empty keeps nothing across restarts.
	// One process at a time may use a directory.
	Dir string
	// SaveInterval is how often the store is saved when it changed; zero
	// means one second.
	SaveInterval time.Duration
	// Logger reports saves that fail; nil discards.
	Logger *slog.Logger
}

// dumpScript reads every key with its type, remaining time to live (ms, or
// -1) and contents in one script, so that a snapshot is one consistent
// state of the store: no line operation runs halfway through it. It holds
// the store while it runs (about 25 µs a key), so it leaves out the keys
// whose names contain one of ARGV (unsavedInfixes): the kept answers of
// takes and admin actions, which only a command resent within seconds on
// the same connection reads, and no connection outlives a restart.
var dumpScript = redis.NewScript(`
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local skip = false
  for _, infix in ipairs(ARGV) do
    if string.find(k, infix, 1, true) then skip = true break end
  end
  if not skip then
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  else return redis.error_reply('cannot save key ' .. k .. ' of type ' .. t)
  end
  out[#out+1] = {k, t, redis.call('PTTL', k), v}
  end
end
return out
`)

// unsavedInfixes mark the keys a save leaves out: "}:take:" and "}:op:",
// from the key layout (keys.go), and the change log "}:log": a restart
// is a new start for every reader of the log, which loads the line. The
// version "}:ver" and the record's anchor (record.go) go with the log:
// saving the log would cost a whole day of entries every second, so a
// restart of the embedded store starts the public record anew, and
// without the version its first step is a reset (lua/lib.lua), which the
// record shows as one (queue/record: KindReset), never a chain that
// breaks.
var unsavedInfixes = func() []any {
	out := []any{"}:" + strings.TrimPrefix(keyOf("", "log"), ""), "}:" + keyOf("", "ver"), "}:" + anchorSuffix}
	for _, f := range keyFamilies {
		if f.fn == "take_key" || f.fn == "op_key" {
			out = append(out, "}:"+f.infix)
		}
	}
	return out
}()

// snapshot is the saved form of the store.
type snapshot struct {
	Format  int           `json:"format"`
	SavedAt int64         `json:"saved_at_ms"` // wall clock, Unix ms
	Keys    []snapshotKey `json:"keys"`
}

// snapshotKey is one key. Values are the key's contents as the dump script
// read them: a string's value; a hash's fields and values, a sorted set's
// members and scores, alternating; a set's or list's members.
type snapshotKey struct {
	Key    string   `json:"k"`
	Type   string   `json:"t"`
	TTL    int64    `json:"ttl_ms,omitempty"` // 0 = none
	Values []string `json:"v"`
}

// OpenEmbedded starts an in-process Redis-compatible store (miniredis),
// loads what opts.Dir holds, and saves to it while running. It returns a
// client and a function that saves one last time and stops the store. Key
// TTLs count down in real time, as on a real Redis.
func OpenEmbedded(opts EmbeddedOptions) (redis.UniversalClient, func() error, error) {
	if opts.SaveInterval <= 0 {
		opts.SaveInterval = defaultSaveTick
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var unlock func()
	var loaded *snapshot
	if opts.Dir != "" {
		var err error
		if unlock, err = lockDir(opts.Dir); err != nil {
			return nil, nil, err
		}
		if loaded, err = readSnapshot(filepath.Join(opts.Dir, storeFile)); err != nil {
			unlock()
			return nil, nil, err
		}
	}
	mr := miniredis.NewMiniRedis()
	if loaded != nil {
		n, err := restore(mr, loaded, time.Now())
		if err != nil {
			unlock()
			return nil, nil, fmt.Errorf("embedded store: loading %s: %w", filepath.Join(opts.Dir, storeFile), err)
		}
		opts.Logger.Info("embedded store loaded", "file", filepath.Join(opts.Dir, storeFile), "keys", n,
			"saved", time.UnixMilli(loaded.SavedAt).UTC().Format(time.RFC3339Nano))
	}
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		if unlock != nil {
			unlock()
		}
		return nil, nil, fmt.Errorf("embedded store: %w", err)
	}
	newClient := func() *redis.Client {
		return redis.NewClient(&redis.Options{
			Addr: mr.Addr(), DialTimeout: dialTimeout, ReadTimeout: ioTimeout,
			WriteTimeout: ioTimeout, PoolTimeout: poolTimeout, MaxRetries: maxRetries,
			ContextTimeoutEnabled: true,
		})
	}
	rdb := newClient()
	s := &saver{dir: opts.Dir, log: opts.Logger, rdb: newClient()}

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		clockTick := time.NewTicker(embeddedTick)
		defer clockTick.Stop()
		var saveTick <-chan time.Time
		if opts.Dir != "" {
			t := time.NewTicker(opts.SaveInterval)
			defer t.Stop()
			saveTick = t.C
		}
		last := time.Now()
		var nextSave time.Time
		for {
			select {
			case <-stop:
				return
			case now := <-clockTick.C:
				mr.FastForward(now.Sub(last))
				last = now
			case now := <-saveTick:
				if now.Before(nextSave) {
					continue
				}
				if err := s.save(); err != nil {
					s.log.Error("embedded store: save failed; the line is kept in memory and saved again next time", "err", err)
				}
				nextSave = now.Add(saveShare * time.Since(now))
			}
		}
	}()
	var once sync.Once
	var closeErr error
	closeFn := func() error {
		once.Do(func() {
			close(stop)
			<-done
			if opts.Dir != "" {
				if err := s.save(); err != nil {
					closeErr = fmt.Errorf("embedded store: last save: %w", err)
				} else {
					s.log.Info("embedded store saved", "file", filepath.Join(opts.Dir, storeFile))
				}
			}
			_ = s.rdb.Close()
			mr.Close()
			if unlock != nil {
				unlock()
			}
		})
		return closeErr
	}
	return rdb, closeFn, nil
}

// saver writes snapshots of the store to dir.
type saver struct {
	dir  string
	log  *slog.Logger
	rdb  *redis.Client
	last []byte // the bytes of the last snapshot written
}

// save writes the store's snapshot unless nothing changed since the last.
func (s *saver) save() error {
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	v, err := dumpScript.Run(ctx, s.rdb, nil, unsavedInfixes...).Slice()
	if err != nil {
		return err
	}
	keys, err := decodeDump(v)
	if err != nil {
		return err
	}
	// Compare the contents only: the time of saving always changes.
	body, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	if s.last != nil && string(body) == string(s.last) {
		return nil
	}
	data, err := json.Marshal(snapshot{Format: storeFormat, SavedAt: time.Now().UnixMilli(), Keys: keys})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, storeFile), data); err != nil {
		return err
	}
	s.last = body
	return nil
}

// decodeDump reads the dump script's answer.
func decodeDump(v []any) ([]snapshotKey, error) {
	keys := make([]snapshotKey, 0, len(v))
	for _, item := range v {
		f, ok := item.([]any)
		if !ok || len(f) != 4 {
			return nil, fmt.Errorf("dump answered %T", item)
		}
		key, _ := f[0].(string)
		typ, _ := f[1].(string)
		ttl, _ := f[2].(int64)
		k := snapshotKey{Key: key, Type: typ, TTL: max(ttl, 0)}
		vals, _ := f[3].([]any)
		k.Values = make([]string, len(vals))
		for i, x := range vals {
			switch x := x.(type) {
			case string:
				k.Values[i] = x
			case int64:
				k.Values[i] = strconv.FormatInt(x, 10)
			default:
				return nil, fmt.Errorf("dump of %s answered %T", k.Key, x)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// restore puts a snapshot's keys into mr, less the time since it was saved
// off their TTLs; keys whose time ran out meanwhile are left out.
func restore(mr *miniredis.Miniredis, snap *snapshot, now time.Time) (int, error) {
	elapsed := time.Duration(max(now.UnixMilli()-snap.SavedAt, 0)) * time.Millisecond
	n := 0
	for _, k := range snap.Keys {
		ttl := time.Duration(k.TTL) * time.Millisecond
		if ttl > 0 {
			if ttl <= elapsed {
				continue
			}
			ttl -= elapsed
		}
		v := k.Values
		switch k.Type {
		case "string":
			if len(v) != 1 {
				return n, fmt.Errorf("string %q has %d values", k.Key, len(v))
			}
			if err := mr.Set(k.Key, v[0]); err != nil {
				return n, err
			}
		case "hash":
			if len(v)%2 != 0 {
				return n, fmt.Errorf("hash %q has an odd number of values", k.Key)
			}
			mr.HSet(k.Key, v...)
		case "zset":
			if len(v)%2 != 0 {
				return n, fmt.Errorf("sorted set %q has an odd number of values", k.Key)
			}
			for i := 0; i < len(v); i += 2 {
				score, err := strconv.ParseFloat(v[i+1], 64)
				if err != nil {
					return n, fmt.Errorf("sorted set %q: score %q: %w", k.Key, v[i+1], err)
				}
				if _, err := mr.ZAdd(k.Key, score, v[i]); err != nil {
					return n, err
				}
			}
		case "set":
			if _, err := mr.SAdd(k.Key, v...); err != nil {
				return n, err
			}
		case "list":
			if _, err := mr.RPush(k.Key, v...); err != nil {
				return n, err
			}
		default:
			return n, fmt.Errorf("key %q has type %q", k.Key, k.Type)
		}
		if ttl > 0 {
			mr.SetTTL(k.Key, ttl)
		}
		n++
	}
	return n, nil
}

// readSnapshot reads a saved store; no file is no snapshot. A file that
// does not parse stops the start: starting empty would throw the line away.
func readSnapshot(path string) (*snapshot, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("embedded store: %s is not a saved store (%v); move it away to start with an empty line", path, err)
	}
	if snap.Format != storeFormat {
		return nil, fmt.Errorf("embedded store: %s has format %d, this build reads %d", path, snap.Format, storeFormat)
	}
	return &snap, nil
}

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory, synced, renamed over path, and the directory synced,
// so that a crash leaves either the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
