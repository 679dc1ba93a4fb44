package queue

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Settings are a line's rules. Every replica of a line runs it with the
// same settings; an operator may change the counters and the pause live.
type Settings struct {
	Name                string        // line name; store keys carry it
	HeadWindow          time.Duration // time a called ticket has to redeem
	ViewWindow          time.Duration // time a viewing session lasts
	Counters            int           // service slots
	BanDuration         time.Duration // how long a cheater is banned
	MaxTicketsPerClient int           // live tickets one client may hold
	MaxQueue            int64         // longest line
	Keep                time.Duration // how long a finished ticket's record is kept
}

// DefaultSettings returns the defaults of the command, the server and
// every store: the one place they are written (with EmbeddedStore below,
// the shorter longest line of the embedded store).
func DefaultSettings() Settings { return defaultSettings }

var defaultSettings = Settings{
	Name:                "kitties",
	HeadWindow:          60 * time.Second,
	ViewWindow:          60 * time.Second,
	Counters:            1,
	BanDuration:         time.Hour,
	MaxTicketsPerClient: 10,
	MaxQueue:            1_000_000,
	Keep:                24 * time.Hour,
}

// EmbeddedStore is what benchmark S0 (BENCHMARKS.md) measured of the
// embedded store (a catqms with no --redis-url) on a 2-core machine, and the
// default longest line that follows from it: the longest length S0 measured
// at which a take's p99, one client at a time, stayed within TakeP99Bound.
// The command defaults --max-queue to MaxQueue on the embedded store and
// warns, naming these figures, when it is given more. The figures are from
// the full run of scripts/bench.sh of 2026-12-05 00:52 (BENCHMARKS.md): at
// 10,000 waiting the store, saving itself to --data-dir as it does by
// default, held every request for seconds at a time and 31 failed.
var EmbeddedStore = StoreMeasure{
	MaxQueue:     1_000,
	TakeP99Bound: 50 * time.Millisecond,
	TakeP99:      3850 * time.Microsecond,
	TakeP99Busy:  36200 * time.Microsecond,
	RSSMB:        431,
}

// StoreMeasure is a store's measured limit: see EmbeddedStore.
type StoreMeasure struct {
	MaxQueue     int64         // the default longest line on this store
	TakeP99Bound time.Duration // the p99 of a take the default was chosen to keep
	TakeP99      time.Duration // a take's p99 at MaxQueue waiting, one client at a time
	TakeP99Busy  time.Duration // the same with 32 clients at once, on one core
	RSSMB        int64         // the process's memory then, MB (finished tickets, kept a day, included)
}

// The ranges of the settings, checked by Validate (and so by the command
// and every store).
const (
	MinWindow      = time.Second    // least head or view window
	MaxWindow      = 24 * time.Hour // longest head or view window
	MinBanDuration = time.Second    // shortest ban
	MaxCounters    = 1000           // most service slots, at start or set live
	MaxBanList     = 1000           // most bans one listing answers
)

// NameRE is what a line name must match.
var NameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	d := defaultSettings
	if s.Name == "" {
		s.Name = d.Name
	}
	if s.HeadWindow == 0 {
		s.HeadWindow = d.HeadWindow
	}
	if s.ViewWindow == 0 {
		s.ViewWindow = d.ViewWindow
	}
	if s.Counters == 0 {
		s.Counters = d.Counters
	}
	if s.BanDuration == 0 {
		s.BanDuration = d.BanDuration
	}
	if s.MaxTicketsPerClient == 0 {
		s.MaxTicketsPerClient = d.MaxTicketsPerClient
	}
	if s.MaxQueue == 0 {
		s.MaxQueue = d.MaxQueue
	}
	if s.Keep == 0 {
		s.Keep = d.Keep
	}
	return s
}

// Validate reports every setting outside its range, at once.
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !NameRE.MatchString(s.Name) {
		bad("line name %q: want 1 to 32 of a-z, 0-9 and -", s.Name)
	}
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"head window", s.HeadWindow}, {"view window", s.ViewWindow}} {
		if w.d < MinWindow || w.d > MaxWindow {
			bad("%s %v: want %v to %v", w.name, w.d, MinWindow, MaxWindow)
		}
	}
	if s.Counters < 1 || s.Counters > MaxCounters {
		bad("counters %d: want 1 to %d", s.Counters, MaxCounters)
	}
	if s.BanDuration < MinBanDuration {
		bad("ban duration %v: want at least %v", s.BanDuration, MinBanDuration)
	}
	if s.MaxTicketsPerClient < 1 {
		bad("max tickets per client %d: want at least 1", s.MaxTicketsPerClient)
	}
	if s.MaxQueue < 1 {
		bad("max queue %d: want at least 1", s.MaxQueue)
	}
	if s.Keep < time.Second {
		bad("keep %v: want at least 1s", s.Keep)
	}
	return errors.Join(errs...)
}
