// Package queue is the domain of catqms: tickets, their states, the rules of
// the line, its settings and error codes. It imports only the standard
// library and knows nothing of HTTP, WebSockets or Redis.
package queue

import "time"

// State is where a ticket is in its life.
//
//	waiting → called → serving → served
//	called → expired (no-show)
//	waiting/called → left (the holder left, or was banned)
type State string

// The states of a ticket.
const (
	StateWaiting State = "waiting"
	StateCalled  State = "called"
	StateServing State = "serving"
	StateServed  State = "served"
	StateExpired State = "expired"
	StateLeft    State = "left"
)

// Live reports whether a ticket in state s still counts against its holder:
// waiting, called or serving.
func (s State) Live() bool {
	return s == StateWaiting || s == StateCalled || s == StateServing
}

// Final reports whether a ticket in state s is done: served, expired or left.
func (s State) Final() bool { return s == StateServed || s == StateExpired || s == StateLeft }

// InLine reports whether a ticket in state s has a position: waiting or called.
func (s State) InLine() bool { return s == StateWaiting || s == StateCalled }

// Ticket is what a holder may know about their ticket.
type Ticket struct {
	Seq      uint64        // internal sequence number; picks the kitty
	Label    string        // public label, e.g. "A042"
	State    State         // current state
	Position int64         // 1-based place in line while waiting or called, else 0
	ETA      time.Duration // estimated wait until called; 0 once called
	// ETALow and ETAHigh bound ETA while waiting: the estimate's range
	// (queue/flow's 80% interval) where the line's flow is known, else
	// both equal ETA. Zero once called.
	ETALow, ETAHigh time.Duration
	Deadline        time.Time // while called: the moment the call expires
	Until           time.Time // while serving: the moment viewing ends
	ImageID         string    // while serving: the opaque id of its picture
	Version         int64     // the line's version this answer shows
}

// Issued is a freshly taken ticket with its secret token.
type Issued struct {
	Token  string
	Ticket Ticket
}

// Session is a viewing session: a redeemed ticket in state serving.
type Session struct {
	Seq     uint64    // ticket sequence number
	Label   string    // ticket label
	ImageID string    // opaque id for the image URL, valid only until Until
	Until   time.Time // end of the viewing window
}

// Slot is one ticket shown on the board with its clock.
type Slot struct {
	Ticket   string     `json:"ticket"`
	Until    *time.Time `json:"until,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
}

// Waiter is a waiting ticket on the board.
type Waiter struct {
	Ticket string `json:"ticket"`
}

// SnapshotWaiting is how many waiting tickets a snapshot lists.
const SnapshotWaiting = 64

// Snapshot is the whole visible line at one version. Its JSON form is the
// contract of GET /api/v1/queue and of the WebSocket "snapshot" message.
type Snapshot struct {
	Version         int64     `json:"version"`
	Now             time.Time `json:"now"`
	Length          int64     `json:"length"` // called + waiting
	Counters        int       `json:"counters"`
	Paused          bool      `json:"paused"`
	Serving         []Slot    `json:"serving"`
	Called          []Slot    `json:"called"`
	Waiting         []Waiter  `json:"waiting"` // the first SnapshotWaiting, in order
	ETAPerTicketSec int64     `json:"eta_seconds_per_ticket"`
}

// StatusRequest names one ticket for Line.Statuses: the token and the client
// key of the caller that presents it (for its ban).
type StatusRequest struct {
	Client string
	Token  string
}

// StatusReply is Line.Statuses' answer for one StatusRequest: the ticket, or
// in Err the *Error that Status would have returned for it.
type StatusReply struct {
	Ticket Ticket
	Err    error
}

// StatusBatch is the most tickets a store reads in one step of Statuses;
// longer lists take several steps. Callers that want one store round trip
// per call pass at most this many.
const StatusBatch = 512

// Stats are the line's running totals, shared by every replica.
type Stats struct {
	Issued       int64
	Served       int64
	Expired      int64
	Left         int64
	Bans         int64
	Length       int64         // tickets called or waiting now
	Serving      int64         // counters busy now
	Called       int64         // tickets called now
	Counters     int           // service slots
	MeanWait     time.Duration // mean time from taking a ticket to being called
	MeanService  time.Duration // mean time a counter spends on one redeemed ticket
	ETAPerTicket time.Duration // the line's own estimate of one ticket's share
}

// A line's operations are declared by the code that uses them (server's
// Line, Board and Admin): a store implements them (redisline, in Redis;
// memline, in memory, the executable statement of the rules). Their errors
// are *Error values carrying a Code and its facts; a store that fails to
// answer returns CodeUnavailable; any other error is a defect (internal).

// Clock tells the time. Stores take it as a dependency so that deadlines can
// be tested without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// WaitETA is the line's estimate of a waiting ticket's wait: one share of
// the wait (the line's measure of how long a counter is held, over the
// counters) for each ticket ahead of it that is not called yet, and at
// least one share.
func WaitETA(position, called int64, share time.Duration) time.Duration {
	return time.Duration(max(position-called, 1)) * share
}
