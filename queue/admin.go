package queue

import "time"

// The error codes only the admin API answers.
const (
	// CodeNobodyWaiting: there is no waiting ticket to call.
	CodeNobodyWaiting Code = "nobody_waiting"
	// CodeCountersBusy: every counter holds a called ticket whose holder has
	// not come yet, so no viewing session can be ended to free one.
	CodeCountersBusy Code = "counters_busy"
	// CodeNotCalled: the ticket to skip is not called (or none is).
	CodeNotCalled Code = "not_called"
)

// Outcome is what an admin action did to the line.
type Outcome struct {
	Version  int64    // the line's version after the action
	Ticket   string   // the ticket acted on (skipped, session ended), if any
	Called   []string // tickets the action called, in order
	Counters int      // service slots after the action
	Paused   bool     // taking tickets is paused after the action
}

// Ban is one banned client.
type Ban struct {
	Client string    // the client key: an IPv4 address or an IPv6 prefix
	EndsAt time.Time // when the ban lapses
}

// AdminStats are the line's statistics with its live settings.
type AdminStats struct {
	Stats
	Paused bool // taking tickets is paused
}
