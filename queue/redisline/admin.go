package redisline

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/catqms/catqms/queue"
)

// adminOp runs an admin script and reads its answer (see
// lua/admin_lib.lua): the outcome, or the script's refusal as a domain
// error. subject names what the action was about, for messages. The
// operator's reason ctx carries (queue.WithReason) goes into the change
// log with the action.
func (l *Line) adminOp(ctx context.Context, name, subject string, args ...any) (queue.Outcome, error) {
	op := queue.NewNonce() // the operation id: a replay answers, not acts (admin_lib.lua)
	var r adminReply
	if err := l.call(ctx, name, &r, append(args, queue.Reason(ctx), hex.EncodeToString(op[:]))...); err != nil {
		return queue.Outcome{}, err
	}
	if r.Code != "ok" {
		return queue.Outcome{}, l.adminRefusal(name, r.lineReply, subject)
	}
	out := queue.Outcome{
		Version:  r.Version,
		Counters: int(r.Counters),
		Paused:   r.Paused,
		Called:   []string{},
	}
	if r.Seq != 0 {
		out.Ticket = queue.Label(uint64(r.Seq))
	}
	for _, seq := range r.CalledNow {
		out.Called = append(out.Called, queue.Label(uint64(seq)))
	}
	return out, nil
}

// adminRefusal turns an admin script's refusal into the facts of a domain
// error. subject is what the operator named (a label, a client).
func (l *Line) adminRefusal(name string, r lineReply, subject string) error {
	var label string
	if r.Seq != 0 {
		label = queue.Label(uint64(r.Seq))
	}
	state := queue.State(r.State)
	switch r.Code {
	case "nobody_waiting":
		return &queue.Error{Code: queue.CodeNobodyWaiting}
	case "counters_busy":
		return &queue.Error{Code: queue.CodeCountersBusy}
	case "not_called":
		return &queue.Error{Code: queue.CodeNotCalled, Ticket: label, State: state}
	case "not_serving":
		return &queue.Error{Code: queue.CodeNotServing, Ticket: label, State: state}
	case "unknown":
		return &queue.Error{Code: queue.CodeNotFound, Ticket: subject}
	case "not_banned":
		return queue.Errorf(queue.CodeNotFound, "client %s is not banned", subject)
	}
	return fmt.Errorf("redisline: %s: %w", name, protocolErr("unknown code %q", r.Code))
}

// labelSeq returns the sequence number of label, or CodeBadRequest.
func labelSeq(label string) (uint64, error) {
	seq, ok := queue.ParseLabel(label)
	if !ok {
		return 0, queue.Errorf(queue.CodeBadRequest, "%.20q is not a ticket label (like A042)", label)
	}
	return seq, nil
}

// Pause stops taking tickets (CodePaused) until Resume; the line still
// moves. Pausing a paused line changes nothing.
func (l *Line) Pause(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, "admin_pause", "", "1")
}

// Resume lets people take tickets again.
func (l *Line) Resume(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, "admin_pause", "", "0")
}

// CallNext calls the next waiting ticket now. When every counter is busy,
// the viewing session that would end first ends now to free its counter.
// CodeNobodyWaiting when nobody waits; CodeCountersBusy when every counter
// holds a called ticket, not a session (Skip one instead).
func (l *Line) CallNext(ctx context.Context) (queue.Outcome, error) {
	return l.adminOp(ctx, "admin_call_next", "")
}

// Skip expires a called ticket now as a no-show, and the next ticket is
// called. label "" skips the ticket called longest ago. CodeNotCalled when
// that ticket (or any) is not called; CodeNotFound when label names no live
// or recent ticket.
func (l *Line) Skip(ctx context.Context, label string) (queue.Outcome, error) {
	var seq uint64
	if label != "" {
		var err error
		if seq, err = labelSeq(label); err != nil {
			return queue.Outcome{}, err
		}
	}
	return l.adminOp(ctx, "admin_skip", label, strconv.FormatUint(seq, 10))
}

// SetCounters sets the number of service slots for every replica, at
// once. Growing calls tickets; shrinking never interrupts a session or a
// call: the line just calls nobody until fewer are busy than n.
func (l *Line) SetCounters(ctx context.Context, n int) (queue.Outcome, error) {
	if n < 1 || n > queue.MaxCounters {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "counters must be 1 to %d, not %d", queue.MaxCounters, n)
	}
	return l.adminOp(ctx, "admin_counters", "", n)
}

// EndSession ends the viewing session of ticket label now, as if its
// holder had; the counter frees. CodeNotServing when the ticket is not
// serving, CodeNotFound when label names no live or recent ticket.
func (l *Line) EndSession(ctx context.Context, label string) (queue.Outcome, error) {
	seq, err := labelSeq(label)
	if err != nil {
		return queue.Outcome{}, err
	}
	return l.adminOp(ctx, "admin_end", label, strconv.FormatUint(seq, 10))
}

// Unban lifts client's ban; CodeNotFound when it is not banned.
func (l *Line) Unban(ctx context.Context, client string) (queue.Outcome, error) {
	if client == "" {
		return queue.Outcome{}, queue.Errorf(queue.CodeBadRequest, "name the client to unban")
	}
	return l.adminOp(ctx, "admin_unban", client, client)
}

// Bans lists up to limit clients banned now, the latest ban first, and
// how many are banned in all.
func (l *Line) Bans(ctx context.Context, limit int) ([]queue.Ban, int64, error) {
	limit = min(max(limit, 1), queue.MaxBanList)
	var r bansReply
	if err := l.call(ctx, "admin_bans", &r, limit); err != nil {
		return nil, 0, err
	}
	if r.Code != "ok" {
		return nil, 0, l.adminRefusal("admin_bans", r.lineReply, "")
	}
	if len(r.Clients) != len(r.Ends) {
		return nil, 0, fmt.Errorf("redisline: %s: %w", "admin_bans", protocolErr("%d clients, %d ends", len(r.Clients), len(r.Ends)))
	}
	bans := make([]queue.Ban, len(r.Clients))
	for i, client := range r.Clients {
		bans[i] = queue.Ban{Client: client, EndsAt: ms(r.Ends[i])}
	}
	return bans, r.Total, nil
}

// AdminStats returns the running totals and whether taking is paused, read
// at one version.
func (l *Line) AdminStats(ctx context.Context) (queue.AdminStats, error) {
	return l.stats(ctx)
}
