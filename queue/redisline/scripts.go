package redisline

import (
	"embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, one atomic operation each: lua/<name>.lua behind the
// generated key layout (keys.go) and lua/lib.lua; an admin action
// (admin_*.lua but admin_bans) also behind lua/admin_lib.lua. They are
// built once and named by their file: adding an operation is writing
// lua/<name>.lua with its header (its ARGV from ARGV[A], its reply) and
// one typed method that runs it through Line.call. Script.Run sends
// EVALSHA and, when the store does not know the script (NOSCRIPT: a
// restarted or wiped store), EVAL with its source, which loads it again:
// this is the one loader.
var scripts, scriptSources = loadScripts()

func loadScripts() (map[string]*redis.Script, map[string]string) {
	read := func(name string) string {
		src, err := luaFiles.ReadFile("lua/" + name + ".lua")
		if err != nil {
			panic(fmt.Sprintf("redisline: embedded script %s: %v", name, err)) // a build defect
		}
		return string(src)
	}
	base := luaPreamble() + read("lib") + "\n"
	admin := base + read("admin_lib") + "\n"
	entries, err := luaFiles.ReadDir("lua")
	if err != nil {
		panic(fmt.Sprintf("redisline: embedded scripts: %v", err))
	}
	out, sources := map[string]*redis.Script{}, map[string]string{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		switch {
		case name == "lib" || name == "admin_lib":
			continue
		case strings.HasPrefix(name, "admin_") && name != "admin_bans": // a read, no operation id
			sources[name] = admin + read(name)
		default:
			sources[name] = base + read(name)
		}
		out[name] = redis.NewScript(sources[name])
	}
	return out, sources
}

// ScriptSource returns operation name's script exactly as a Line sends
// it, for tools that run the scripts themselves (the benchmarks' ceilings).
func ScriptSource(name string) (string, bool) {
	src, ok := scriptSources[name]
	return src, ok
}

// script returns the operation name's script.
func script(name string) *redis.Script {
	sc, ok := scripts[name]
	if !ok {
		panic("redisline: no script " + name) // a defect in this package
	}
	return sc
}
