package redisline

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/catqms/catqms/internal/testenv"
	"github.com/catqms/catqms/queue"
)

// TestLuaUsesTheKeyLayout: every key, key family and ticket field the
// scripts name is defined in keys.go, every one defined there is used, and
// no script spells a key itself.
func TestLuaUsesTheKeyLayout(t *testing.T) {
	used := map[string]bool{}
	names := regexp.MustCompile(`\b([KF])\.([a-z_]+)\b`)
	calls := regexp.MustCompile(`\b([a-z_]+key)\(`)
	eachLuaFile(t, func(path, src string) {
		code := stripComments(src)
		if strings.Contains(code, "P ..") || strings.Contains(code, "'catqms:") {
			t.Errorf("%s spells a key itself; name it in keys.go", path)
		}
		for _, m := range names.FindAllStringSubmatch(code, -1) {
			used[m[1]+"."+m[2]] = true
		}
		for _, m := range calls.FindAllStringSubmatch(code, -1) {
			used[m[1]+"()"] = true
		}
	})
	defined := map[string]bool{}
	for _, k := range lineKeys {
		defined["K."+k.lua] = true
	}
	for _, f := range keyFamilies {
		defined[f.fn+"()"] = true
	}
	for _, f := range ticketFields {
		defined["F."+f.lua] = true
	}
	for name := range used {
		if !defined[name] {
			t.Errorf("the scripts use %s, which keys.go does not define", name)
		}
	}
	for name := range defined {
		if !used[name] && name != "K.secret" { // K.secret: secret.lua, read below
			t.Errorf("keys.go defines %s, which no script uses", name)
		}
	}
	if !used["K.secret"] {
		t.Error("secret.lua does not use K.secret")
	}
}

// eachLuaFile calls f with every embedded script's path and source.
func eachLuaFile(t *testing.T, f func(path, src string)) {
	t.Helper()
	err := fs.WalkDir(luaFiles, "lua", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := luaFiles.ReadFile(path)
		if err == nil {
			f(path, string(src))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func stripComments(src string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(src, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// replyHook replaces the answer of every script with garbage.
type replyHook struct{ garbage any }

func (h replyHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h replyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h replyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && err == nil && strings.HasPrefix(strings.ToLower(c.Name()), "eval") {
			c.SetVal(h.garbage)
		}
		return err
	}
}

// TestBrokenAnswersAreDefectsNotOutages: an answer that breaks the
// protocol is an internal error, never CodeUnavailable.
func TestBrokenAnswersAreDefectsNotOutages(t *testing.T) {
	cases := map[string]any{
		"a number":       int64(42),
		"odd pairs":      []any{"code", "ok", "version"},
		"unknown field":  []any{"code", "ok", "colour", "red"},
		"unknown code":   []any{"code", "maybe", "version", int64(1)},
		"wrong kind":     []any{"code", "ok", "version", []any{}},
		"non-flag":       []any{"code", "ok", "paused", int64(7)},
		"name not text":  []any{int64(1), "ok"},
		"nested garbage": []any{"code", "ok", "tickets", []any{int64(3)}},
		"no version":     []any{"code", "ok", "now", int64(1)},
		"code twice":     []any{"code", "ok", "code", "ok", "now", int64(1)},
		"ok, no ticket":  []any{"code", "ok", "version", int64(1), "now", int64(1)},
	}
	for name, garbage := range cases {
		t.Run(name, func(t *testing.T) {
			rdb := miniStore(t)
			l, err := New(context.Background(), rdb, Options{Tick: -1, Secret: []byte("protocol-test-secret-0123")})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			is, err := l.Take(context.Background(), "a")
			if err != nil {
				t.Fatal(err)
			}
			rdb.AddHook(replyHook{garbage})
			ctx := context.Background()
			calls := map[string]error{}
			_, calls["take"] = l.Take(ctx, "a")
			_, calls["status"] = l.Status(ctx, "a", is.Token)
			_, calls["statuses"] = l.Statuses(ctx, []queue.StatusRequest{{Client: "a", Token: is.Token}})
			_, calls["snapshot"] = l.Snapshot(ctx)
			_, calls["stats"] = l.Stats(ctx)
			_, calls["pause"] = l.Pause(ctx)
			for call, err := range calls {
				if err == nil {
					// Some garbage happens to be a valid answer for some
					// calls (e.g. a snapshot has no code to be unknown).
					continue
				}
				if qe := queue.AsError(err); qe != nil {
					t.Errorf("%s: %v is a *queue.Error (%s), want a defect", call, err, qe.Code)
				}
				if !errors.Is(err, errProtocol) {
					t.Errorf("%s: %v does not wrap errProtocol", call, err)
				}
			}
			if calls["take"] == nil || calls["status"] == nil {
				t.Errorf("take and status accepted %v", garbage)
			}
		})
	}
}

// TestFailingScriptIsADefect: a script the store runs and that fails (a
// Lua error) is internal too, while a store that is gone is unavailable.
func TestFailingScriptIsADefect(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		// Real script errors from the store: a runtime error and a
		// script that does not compile.
		if err := f.rdb.Set(f.ctx, "a-string", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{
			"return redis.call('NO-SUCH-COMMAND')",   // a runtime error
			"return {",                               // does not compile
			"return redis.call('ZCARD', 'a-string')", // WRONGTYPE inside a script
			"return nil",                             // no answer at all (redis.Nil)
		} {
			scriptErr := f.rdb.Eval(f.ctx, src, []string{"k"}).Err()
			var re redis.Error
			if !errors.As(scriptErr, &re) {
				t.Fatalf("%s: the store answered %v, want an error reply", src, scriptErr)
			}
			err := f.line.storeErr("take", scriptErr)
			if !errors.Is(err, errProtocol) || queue.AsError(err) != nil {
				t.Fatalf("a failing script (%v): %v, want a protocol error", scriptErr, err)
			}
		}
		for _, e := range []error{storeError("LOADING Redis is loading the dataset in memory"),
			storeError("READONLY You can't write against a read only replica."),
			context.DeadlineExceeded, errors.New("dial tcp: connection refused")} {
			if got := queue.ErrorCode(f.line.storeErr("take", e)); got != queue.CodeUnavailable {
				t.Errorf("%v: code %s, want unavailable", e, got)
			}
		}
	})
}

// storeError is an error reply from a store, as go-redis reports one.
type storeError string

func (e storeError) Error() string { return string(e) }
func (storeError) RedisError()     {}

// TestScriptsReloadAfterTheStoreForgetsThem: a store that restarted, ran
// SCRIPT FLUSH or FUNCTION FLUSH has forgotten the operations (NOSCRIPT, or
// no such function); the one loader sends them again and the operation
// goes through. A real Redis runs the function library, the embedded store
// the scripts.
func TestScriptsReloadAfterTheStoreForgetsThem(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a := f.take("a")
		if f.line.functions {
			if err := f.rdb.FunctionFlush(f.ctx).Err(); err != nil {
				t.Fatal(err)
			}
		} else if err := f.rdb.ScriptFlush(f.ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if got := f.status(a); got.State != queue.StateCalled {
			t.Fatalf("a after the flush: %+v", got)
		}
		if f.line.functions {
			libs, err := f.rdb.FunctionList(f.ctx, redis.FunctionListQuery{LibraryNamePattern: library.name}).Result()
			if err != nil || len(libs) != 1 || len(libs[0].Functions) != len(library.functions) {
				t.Fatalf("the function library is not loaded again: %+v %v", libs, err)
			}
			return
		}
		exists, err := f.rdb.ScriptExists(f.ctx, script("status").Hash()).Result()
		if err != nil || len(exists) != 1 || !exists[0] {
			t.Fatalf("the status script is not loaded again: %v %v", exists, err)
		}
	})
}

// TestRealRedisRunsTheFunctionLibrary: the packaging is chosen by the store,
// so the tests would pass with either on both; this checks each store gets
// the one it should.
func TestRealRedisRunsTheFunctionLibrary(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		want := strings.Contains(t.Name(), "redis-server")
		if f.line.functions != want {
			t.Fatalf("functions = %v, want %v", f.line.functions, want)
		}
	})
}

// TestEveryScriptIsCalled: each operation script is run by a typed method
// (by its name), so none is dead.
func TestEveryScriptIsCalled(t *testing.T) {
	var code strings.Builder
	for _, f := range []string{"line.go", "admin.go", "log.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code.Write(src)
	}
	for name := range scripts {
		if !strings.Contains(code.String(), `"`+name+`"`) {
			t.Errorf("no method runs lua/%s.lua", name)
		}
	}
}

// TestTwoLinesShareAStore: lines of two names on one store keep apart, their
// calls interleaved. The function library keeps the last line's keys
// between calls (keys_for); a call for the other line must not use them.
func TestTwoLinesShareAStore(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := s.new(t)
			lines := map[string]*Line{}
			for _, name := range []string{"north", "south"} {
				l, err := New(ctx, rdb, Options{Name: name, Tick: -1, MaxTicketsPerClient: 100})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				lines[name] = l
			}
			taken := map[string]int{}
			for i, name := range []string{"north", "north", "south", "north", "south", "south", "south"} {
				is, err := lines[name].Take(ctx, "c")
				if err != nil {
					t.Fatal(err)
				}
				taken[name]++
				if is.Ticket.Seq != uint64(taken[name]) || is.Ticket.Position != int64(taken[name]) {
					t.Fatalf("take %d on %s: %+v, want ticket and place %d", i, name, is.Ticket, taken[name])
				}
			}
			for name, l := range lines {
				snap, err := l.Snapshot(ctx)
				if err != nil || snap.Length != int64(taken[name]) {
					t.Fatalf("%s: length %d (%v), want %d", name, snap.Length, err, taken[name])
				}
			}
		})
	}
}

// TestOtherVersionsLibrariesAreDropped: a store keeps no library per
// release for ever; a Line drops other catqms versions' libraries as it
// starts (their replicas load theirs again if they still run), and leaves
// every other library alone.
func TestOtherVersionsLibrariesAreDropped(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		if !f.line.functions {
			return // the embedded store has no functions (TestRealRedisRunsTheFunctionLibrary)
		}
		for _, name := range []string{"catqms_0123456789ab", "catqms_tools"} {
			lib := "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return 1 end)"
			if err := f.rdb.FunctionLoad(f.ctx, lib).Err(); err != nil {
				t.Fatal(err)
			}
		}
		l, err := New(f.ctx, f.rdb, Options{Tick: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		libs, err := f.rdb.FunctionList(f.ctx, redis.FunctionListQuery{}).Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, lib := range libs {
			names = append(names, lib.Name)
		}
		slices.Sort(names)
		if want := []string{library.name, "catqms_tools"}; !slices.Equal(names, want) {
			t.Fatalf("libraries %v, want %v", names, want)
		}
	})
}

// TestAUserWithoutFunctionsRunsScripts: a Redis user not allowed FUNCTION
// LOAD (an ACL, as some managed services set) gets the same operations as
// scripts, on a real Redis, and the line works alike.
func TestAUserWithoutFunctionsRunsScripts(t *testing.T) {
	r := testenv.RedisServer(t)
	if r == nil {
		return
	}
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "queue", "on", ">secret", "~*", "&*", "+@all", "-function").Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "queue", Password: "secret"})
	defer rdb.Close()
	l, err := New(ctx, rdb, Options{Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.functions {
		t.Fatal("a user refused FUNCTION runs functions")
	}
	a, err := l.Take(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Take(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Ticket.State != queue.StateCalled || b.Ticket.Position != 2 {
		t.Fatalf("takes as scripts: %+v, %+v", a.Ticket, b.Ticket)
	}
	libs, err := admin.FunctionList(ctx, redis.FunctionListQuery{}).Result()
	if err != nil || len(libs) != 0 {
		t.Fatalf("libraries %+v (%v), want none", libs, err)
	}
}

// TestLuaAvoidsWhatTheEmbeddedStoreGetsWrong: the embedded store runs the
// scripts on gopher-lua (v1.1.1), which gets two things wrong that Redis's
// Lua gets right, and both once cut the line's state short there:
//   - pcall that catches an error closes the open upvalues of the whole
//     chunk, so lib.lua's functions lose the call's state (dirty, …);
//   - one assignment to a library local and a table field together
//     (A, T.x = n, n) stores a stale register's value in the local.
//
// No script may do either.
func TestLuaAvoidsWhatTheEmbeddedStoreGetsWrong(t *testing.T) {
	assign := regexp.MustCompile(`^\s*([^=]*?)\s=\s`)
	name := regexp.MustCompile(`^[A-Za-z_]\w*$`)
	eachLuaFile(t, func(path, src string) {
		for i, line := range strings.Split(src, "\n") {
			code, _, _ := strings.Cut(line, "--")
			if strings.Contains(code, "pcall(") {
				t.Errorf("%s:%d: pcall: %s", path, i+1, strings.TrimSpace(code))
			}
			m := assign.FindStringSubmatch(code)
			if m == nil || strings.HasPrefix(strings.TrimSpace(m[1]), "local ") || !strings.Contains(m[1], ",") {
				continue
			}
			var fields, names int
			for _, target := range strings.Split(m[1], ",") {
				target = strings.TrimSpace(target)
				switch {
				case strings.ContainsAny(target, ".["):
					fields++
				case name.MatchString(target):
					names++
				}
			}
			if fields > 0 && names > 0 {
				t.Errorf("%s:%d: a variable and a table field in one assignment: %s", path, i+1, strings.TrimSpace(code))
			}
		}
	})
}
