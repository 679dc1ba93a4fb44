package redisline

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The operations, one atomic step of the line each: lua/<name>.lua behind
// the generated key layout (keys.go) and lua/lib.lua; an admin action
// (admin_*.lua but admin_bans) also behind lua/admin_lib.lua. Adding an
// operation is writing lua/<name>.lua with its header (its ARGV from
// ARGV[A], its reply) and one typed method that runs it through Line.call.
//
// They reach the store in one of two packagings of the same Lua, chosen
// once per Line (New):
//
//   - a function library (Redis 7 and later): every file above runs once,
//     when the library is loaded, and each operation is a function of it,
//     FCALL catqms_<hash>_<name>. A call then runs only its own steps; as a
//     script it would first define lib.lua's functions again, which costs
//     more than most operations' own work (BENCHMARKS.md, S3).
//   - scripts (the embedded store, older Redis, a user that may not load
//     functions): one script per operation, EVALSHA, and EVAL with its
//     source when the store does not know it (NOSCRIPT: a restarted or
//     wiped store).
//
// Either way a store that forgot the code gets it again from the call that
// found it missing: this is the one loader.
var scripts, scriptSources = loadScripts()

// library is every operation as one Redis function library.
var library = buildLibrary()

// luaFile returns lua/name.lua.
func luaFile(name string) string {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(fmt.Sprintf("redisline: embedded script %s: %v", name, err)) // a build defect
	}
	return string(src)
}

// operations returns the operations' names and whether each is an admin
// action (behind admin_lib.lua), in file order.
func operations() (names []string, admin map[string]bool) {
	entries, err := luaFiles.ReadDir("lua")
	if err != nil {
		panic(fmt.Sprintf("redisline: embedded scripts: %v", err))
	}
	admin = map[string]bool{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" || name == "admin_lib" {
			continue
		}
		names = append(names, name)
		admin[name] = strings.HasPrefix(name, "admin_") && name != "admin_bans" // admin_bans is a read, no operation id
	}
	return names, admin
}

func loadScripts() (map[string]*redis.Script, map[string]string) {
	// A script's KEYS and ARGV are globals; the preamble's locals of those
	// names (the call's, which begin sets) hide them, so they are kept first.
	base := "local EVAL_KEYS, EVAL_ARGV = KEYS, ARGV\n" + luaPreamble() + luaFile("lib") + "\n"
	admin := base + luaFile("admin_lib") + "\n"
	names, isAdmin := operations()
	out, sources := map[string]*redis.Script{}, map[string]string{}
	for _, name := range names {
		lib := base
		if isAdmin[name] {
			lib = admin
		}
		sources[name] = lib + "begin(EVAL_KEYS, EVAL_ARGV)\n" + luaFile(name)
		out[name] = redis.NewScript(sources[name])
	}
	return out, sources
}

// functionLibrary is the operations as one Redis function library.
type functionLibrary struct {
	name      string            // catqms_<hash of the code>
	source    string            // for FUNCTION LOAD, its #!lua header first
	functions map[string]string // operation → its function's name
}

// buildLibrary packages every operation as a function of one library. The
// library's name has a hash of its code in it, and so do its functions',
// so replicas of two versions of catqms sharing a store (a rolling
// deploy) each call their own and never replace the other's.
func buildLibrary() functionLibrary {
	names, _ := operations()
	code := luaPreamble() + luaFile("lib") + "\n" + luaFile("admin_lib") + "\n"
	var ops strings.Builder
	for _, name := range names {
		fmt.Fprintf(&ops, "register(%q, function()\n%s\nend)\n", name, luaFile(name))
	}
	sum := sha1.Sum([]byte(code + ops.String()))
	lib := functionLibrary{name: "catqms_" + hex.EncodeToString(sum[:6]), functions: map[string]string{}}
	for _, name := range names {
		lib.functions[name] = lib.name + "_" + name
	}
	// register names an operation's function, which sets the call's state
	// (lib.lua's begin) and runs the operation.
	register := "local function register(op, run)\n" +
		"  redis.register_function('" + lib.name + "_' .. op, function(keys, args)\n" +
		"    begin(keys, args)\n" +
		"    return run()\n" +
		"  end)\n" +
		"end\n"
	lib.source = "#!lua name=" + lib.name + "\n" + code + register + ops.String()
	return lib
}

// FunctionLibrary returns the function library's source (for FUNCTION
// LOAD) and operation name's function in it, exactly as a Line on a store
// with functions loads and calls them, for tools that run the operations
// themselves (the benchmarks' ceilings).
func FunctionLibrary(name string) (source, function string, ok bool) {
	function, ok = library.functions[name]
	return library.source, function, ok
}

// script returns the operation name's script.
func script(name string) *redis.Script {
	sc, ok := scripts[name]
	if !ok {
		panic("redisline: no script " + name) // a defect in this package
	}
	return sc
}

// loadLibrary loads the function library into the store, on every primary
// of a Cluster (a line lives on one, which one depends on its name).
// Loading it again is harmless: REPLACE swaps a library for the same code.
func loadLibrary(ctx context.Context, rdb redis.UniversalClient) error {
	return onEachPrimary(ctx, rdb, func(ctx context.Context, c redis.Cmdable) error {
		return c.FunctionLoadReplace(ctx, library.source).Err()
	})
}

// otherVersion matches the library of any version of catqms.
var otherVersion = regexp.MustCompile(`^catqms_[0-9a-f]{12}$`)

// dropOtherLibraries deletes the libraries of other versions of catqms, so
// that a store does not keep one per release for ever. A replica of an
// older version still running (a rolling deploy) finds its library missing
// at its next call and loads it again, once.
func dropOtherLibraries(ctx context.Context, rdb redis.UniversalClient) error {
	return onEachPrimary(ctx, rdb, func(ctx context.Context, c redis.Cmdable) error {
		libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "catqms_*"}).Result()
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if lib.Name == library.name || !otherVersion.MatchString(lib.Name) {
				continue
			}
			// Another replica may have dropped it first.
			if err := c.FunctionDelete(ctx, lib.Name).Err(); err != nil && !strings.Contains(strings.ToLower(err.Error()), "no such library") {
				return err
			}
		}
		return nil
	})
}

// onEachPrimary runs f on the store, or on every primary of a Cluster.
func onEachPrimary(ctx context.Context, rdb redis.UniversalClient, f func(context.Context, redis.Cmdable) error) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return f(ctx, m) })
	}
	return f(ctx, rdb)
}

// functionsRefused reports whether a store answered FUNCTION LOAD with a
// refusal that scripts get around: a store without functions (the
// embedded one, Redis before 7) or a user not allowed to load them. Any
// other failure (the store not answering, a library Redis will not
// compile) stays an error.
func functionsRefused(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := strings.ToLower(re.Error())
	return strings.HasPrefix(msg, "err unknown command") ||
		strings.HasPrefix(msg, "err unknown subcommand") ||
		strings.HasPrefix(msg, "noperm")
}

// isNoFunction reports whether a store answered FCALL with "no such
// function": it has lost the library.
func isNoFunction(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "ERR Function not found")
}

// Command is the store command this Line runs its operations with: "fcall"
// (the function library) or "evalsha" (scripts), for tools that read the
// store's command statistics (the benchmarks).
func (l *Line) Command() string {
	if l.functions {
		return "fcall"
	}
	return "evalsha"
}

// truncate cuts s to at most n bytes, for a log line: a store's refusal
// of FUNCTION LOAD quotes the library back.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
