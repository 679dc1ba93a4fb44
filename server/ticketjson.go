package server

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/catqms/catqms/queue"
)

// appendTicketMessage appends the WebSocket message that shows t — what
// json.Marshal writes for newTicketBody(t) with Type "ticket", byte for
// byte (TestTicketMessageIsEncodingJSON) — without reflection or
// pointers: the live feed encodes every watcher's ticket after every
// change, and at 10,000 watchers json.Marshal was a measurable share of a
// replica's core.
func appendTicketMessage(dst []byte, t queue.Ticket) []byte {
	dst = append(dst, `{"type":"ticket","ticket":`...)
	dst = appendJSONString(dst, t.Label)
	dst = append(dst, `,"state":`...)
	dst = appendJSONString(dst, string(t.State))
	if t.State.InLine() {
		eta, low, high := etaRange(t.ETA, t.ETALow, t.ETAHigh)
		dst = append(dst, `,"position":`...)
		dst = strconv.AppendInt(dst, t.Position, 10)
		dst = append(dst, `,"eta_seconds":`...)
		dst = strconv.AppendInt(dst, eta, 10)
		dst = append(dst, `,"eta_low_seconds":`...)
		dst = strconv.AppendInt(dst, low, 10)
		dst = append(dst, `,"eta_high_seconds":`...)
		dst = strconv.AppendInt(dst, high, 10)
	}
	if t.State == queue.StateCalled && !t.Deadline.IsZero() {
		dst = append(dst, `,"deadline":`...)
		dst = appendAPITime(dst, t.Deadline)
	}
	if t.State == queue.StateServing {
		if !t.Until.IsZero() {
			dst = append(dst, `,"until":`...)
			dst = appendAPITime(dst, t.Until)
		}
		if t.ImageID != "" {
			dst = append(dst, `,"image_url":`...)
			dst = appendJSONString(dst, imagePath+t.ImageID)
		}
	}
	return append(dst, '}')
}

// ticketShown is what the message appendTicketMessage writes for a ticket
// shows, as fields: tickets with the same ticketShown have the same
// message, and tickets with different ones different messages, given
// that a ticket's label is its seq's (queue.Label), which stands for it
// here (TestTicketShownIsTheMessage). The live feed keeps it for each
// watcher to send only what changed.
type ticketShown struct {
	seq   uint64
	state queue.State
	// In line: the position and the wait in whole seconds, as shown.
	position, eta, low, high int64
	// Called or serving: the deadline or the end of the viewing, in Unix
	// ms (as shown, to the millisecond), when shown.
	deadline, until       int64
	hasDeadline, hasUntil bool
	image                 string // serving: the picture's id
}

// shownOf is what the message about t shows (appendTicketMessage).
func shownOf(t queue.Ticket) ticketShown {
	sh := ticketShown{seq: t.Seq, state: t.State}
	if t.State.InLine() {
		sh.position = t.Position
		sh.eta, sh.low, sh.high = etaRange(t.ETA, t.ETALow, t.ETAHigh)
	}
	if t.State == queue.StateCalled && !t.Deadline.IsZero() {
		sh.deadline, sh.hasDeadline = t.Deadline.UnixMilli(), true
	}
	if t.State == queue.StateServing {
		if !t.Until.IsZero() {
			sh.until, sh.hasUntil = t.Until.UnixMilli(), true
		}
		sh.image = t.ImageID
	}
	return sh
}

// appendAPITime appends t as apiTime.MarshalJSON writes it.
func appendAPITime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, timeLayout)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string. Labels, states and image
// paths are plain ASCII; anything else goes through encoding/json, which
// escapes it as it always does.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
