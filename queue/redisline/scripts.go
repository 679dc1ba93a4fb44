package redisline

import (
	"embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts holds one atomic script per operation on the line. Each is
// lib.lua followed by the operation's own file, so every operation can
// advance the line before it acts.
type scripts struct {
	advance, take, redeem, end, leave, status, statuses, ban, view, snapshot, stats *redis.Script
}

func loadScripts() (*scripts, error) {
	lib, err := luaFiles.ReadFile("lua/lib.lua")
	if err != nil {
		return nil, err
	}
	load := func(name string) *redis.Script {
		src, e := luaFiles.ReadFile("lua/" + name + ".lua")
		if e != nil {
			err = fmt.Errorf("script %s: %w", name, e)
			return nil
		}
		return redis.NewScript(string(lib) + "\n" + string(src))
	}
	s := &scripts{
		advance:  load("advance"),
		take:     load("take"),
		redeem:   load("redeem"),
		end:      load("end"),
		leave:    load("leave"),
		status:   load("status"),
		statuses: load("statuses"),
		ban:      load("ban"),
		view:     load("view"),
		snapshot: load("snapshot"),
		stats:    load("stats"),
	}
	return s, err
}

func (s *scripts) all() []*redis.Script {
	return []*redis.Script{s.advance, s.take, s.redeem, s.end, s.leave, s.status, s.statuses, s.ban, s.view, s.snapshot, s.stats}
}
