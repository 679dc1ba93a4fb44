package redisline

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
)

// outcome checks an admin action succeeded, bumped the version past
// before and called exactly the tickets in called.
func (f *fixture) outcome(what string, out queue.Outcome, err error, before int64, ticket string, called ...string) queue.Outcome {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
	if out.Version <= before {
		f.t.Fatalf("%s: version %d, want above %d", what, out.Version, before)
	}
	if out.Ticket != ticket {
		f.t.Fatalf("%s: acted on %q, want %q", what, out.Ticket, ticket)
	}
	if !slices.Equal(out.Called, called) && !(len(called) == 0 && len(out.Called) == 0) {
		f.t.Fatalf("%s: called %v, want %v", what, out.Called, called)
	}
	return out
}

func (f *fixture) version() int64 {
	f.t.Helper()
	s, err := f.line.Snapshot(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Version
}

func (f *fixture) redeem(is queue.Issued) {
	f.t.Helper()
	if _, err := f.line.Redeem(f.ctx, "c", is.Token); err != nil {
		f.t.Fatalf("Redeem(%s): %v", is.Ticket.Label, err)
	}
}

func (f *fixture) wantState(is queue.Issued, state queue.State) {
	f.t.Helper()
	if got := f.status(is); got.State != state {
		f.t.Fatalf("%s is %s, want %s", is.Ticket.Label, got.State, state)
	}
}

func TestAdminPauseAndResume(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a := f.take("a")
		v := f.version()
		out, err := f.line.Pause(f.ctx)
		out = f.outcome("pause", out, err, v, "")
		if !out.Paused || out.Counters != 1 {
			t.Fatalf("pause outcome %+v", out)
		}
		_, err = f.line.Take(f.ctx, "b")
		wantCode(t, err, queue.CodePaused)
		snap, _ := f.line.Snapshot(f.ctx)
		if !snap.Paused || snap.Version != out.Version {
			t.Fatalf("snapshot while paused: paused %v, version %d (pause made %d)", snap.Paused, snap.Version, out.Version)
		}
		if st, err := f.line.AdminStats(f.ctx); err != nil || !st.Paused || st.Issued != 1 {
			t.Fatalf("AdminStats while paused = %+v, %v", st, err)
		}
		// Pausing twice changes nothing, so watchers are not woken for it.
		again, err := f.line.Pause(f.ctx)
		if err != nil || again.Version != out.Version || !again.Paused {
			t.Fatalf("pause again = %+v, %v; want no new version", again, err)
		}
		// The line still moves: the called ticket redeems and ends.
		f.redeem(a)
		f.wantState(a, queue.StateServing)

		v = f.version()
		out, err = f.line.Resume(f.ctx)
		if out = f.outcome("resume", out, err, v, ""); out.Paused {
			t.Fatalf("resume outcome %+v", out)
		}
		f.take("b")
		if snap, _ := f.line.Snapshot(f.ctx); snap.Paused {
			t.Fatal("snapshot still paused after resume")
		}
		if st, _ := f.line.AdminStats(f.ctx); st.Paused {
			t.Fatal("AdminStats still paused after resume")
		}
	})
}

func TestAdminPauseReachesEveryReplica(t *testing.T) {
	forEachStore(t, Options{Counters: 1}, func(t *testing.T, f *fixture) {
		// Another replica, started with other settings, on the same store.
		other, err := New(f.ctx, f.rdb, Options{Counters: 5, Clock: f.clock, Tick: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := f.line.Pause(f.ctx); err != nil {
			t.Fatal(err)
		}
		_, err = other.Take(f.ctx, "b")
		wantCode(t, err, queue.CodePaused)
		if _, err := f.line.SetCounters(f.ctx, 2); err != nil {
			t.Fatal(err)
		}
		if snap, _ := other.Snapshot(f.ctx); snap.Counters != 2 || !snap.Paused {
			t.Fatalf("the other replica sees counters %d, paused %v; want 2, true", snap.Counters, snap.Paused)
		}
	})
}

func TestAdminSetCounters(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		var ts []queue.Issued
		for i := range 5 {
			ts = append(ts, f.take(fmt.Sprintf("c%d", i)))
		}
		v := f.version()
		out, err := f.line.SetCounters(f.ctx, 3)
		if out = f.outcome("grow to 3", out, err, v, "", "A001", "A002"); out.Counters != 3 {
			t.Fatalf("counters %d, want 3", out.Counters)
		}
		for _, is := range ts[:3] {
			f.redeem(is)
		}
		f.wantState(ts[3], queue.StateWaiting)

		// Shrinking interrupts nobody, and calls nobody while too many are busy.
		v = f.version()
		out, err = f.line.SetCounters(f.ctx, 1)
		f.outcome("shrink to 1", out, err, v, "")
		for _, is := range ts[:3] {
			f.wantState(is, queue.StateServing)
		}
		if err := f.line.EndViewing(f.ctx, "c", ts[0].Token); err != nil {
			t.Fatal(err)
		}
		if err := f.line.EndViewing(f.ctx, "c", ts[1].Token); err != nil {
			t.Fatal(err)
		}
		f.wantState(ts[3], queue.StateWaiting) // one still serves on the one counter
		if err := f.line.EndViewing(f.ctx, "c", ts[2].Token); err != nil {
			t.Fatal(err)
		}
		f.wantState(ts[3], queue.StateCalled)
		f.wantState(ts[4], queue.StateWaiting)
		if snap, _ := f.line.Snapshot(f.ctx); snap.Counters != 1 {
			t.Fatalf("snapshot counters %d, want 1", snap.Counters)
		}

		// Setting the same number again changes nothing.
		v = f.version()
		if same, err := f.line.SetCounters(f.ctx, 1); err != nil || same.Version != v {
			t.Fatalf("same counters = %+v, %v; want version %d", same, err, v)
		}
		for _, n := range []int{0, -1, queue.MaxCounters + 1} {
			_, err := f.line.SetCounters(f.ctx, n)
			wantCode(t, err, queue.CodeBadRequest)
		}
		if _, err := f.line.SetCounters(f.ctx, queue.MaxCounters); err != nil {
			t.Fatalf("SetCounters(%d): %v", queue.MaxCounters, err)
		}
	})
}

func TestAdminCallNext(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		_, err := f.line.CallNext(f.ctx)
		wantCode(t, err, queue.CodeNobodyWaiting) // an empty line
		a := f.take("a")
		_, err = f.line.CallNext(f.ctx)
		wantCode(t, err, queue.CodeNobodyWaiting) // a is called; nobody waits
		b, c := f.take("b"), f.take("c")
		_, err = f.line.CallNext(f.ctx)
		wantCode(t, err, queue.CodeCountersBusy) // the counter holds a's call

		// a views: calling the next ends a's session early and calls b.
		f.redeem(a)
		f.clock.Add(10 * time.Second)
		v := f.version()
		out, err := f.line.CallNext(f.ctx)
		f.outcome("call next", out, err, v, "A000", "A001")
		f.wantState(a, queue.StateServed)
		if got := f.status(b); got.State != queue.StateCalled || !got.Deadline.Equal(f.clock.Now().Add(60*time.Second)) {
			t.Fatalf("b = %+v, want called with a full head window", got)
		}
		f.wantState(c, queue.StateWaiting)
		if st, _ := f.line.Stats(f.ctx); st.Served != 1 || st.MeanService != 10*time.Second {
			t.Fatalf("stats %+v, want a served in 10s", st)
		}
	})
}

func TestAdminCallNextOnAShrunkLine(t *testing.T) {
	forEachStore(t, Options{Counters: 3}, func(t *testing.T, f *fixture) {
		var ts []queue.Issued
		for i := range 5 {
			ts = append(ts, f.take(fmt.Sprintf("c%d", i)))
		}
		for _, is := range ts[:3] {
			f.redeem(is)
			f.clock.Add(time.Second) // ts[0] ends first
		}
		if _, err := f.line.SetCounters(f.ctx, 1); err != nil {
			t.Fatal(err)
		}
		// Three busy on one counter: the call still comes, one for one.
		out, err := f.line.CallNext(f.ctx)
		f.outcome("call next", out, err, 0, "A000", "A003")
		f.wantState(ts[0], queue.StateServed)
		f.wantState(ts[1], queue.StateServing)
		f.wantState(ts[4], queue.StateWaiting)
	})
}

func TestAdminSkip(t *testing.T) {
	forEachStore(t, Options{Counters: 2}, func(t *testing.T, f *fixture) {
		_, err := f.line.Skip(f.ctx, "")
		wantCode(t, err, queue.CodeNotCalled)
		a := f.take("a")
		f.clock.Add(time.Second)
		b, c, d := f.take("b"), f.take("c"), f.take("d")

		// No label: the ticket called longest ago (a), and c is called.
		v := f.version()
		out, err := f.line.Skip(f.ctx, "")
		f.outcome("skip", out, err, v, "A000", "A002")
		f.wantState(a, queue.StateExpired)
		_, err = f.line.Redeem(f.ctx, "a", a.Token)
		if qe := wantCode(t, err, queue.CodeGone); qe.State != queue.StateExpired {
			t.Fatalf("a skipped holder redeems: %+v", qe)
		}

		// A label: c, called after b, is skipped first.
		v = f.version()
		out, err = f.line.Skip(f.ctx, c.Ticket.Label)
		f.outcome("skip c", out, err, v, "A002", "A003")
		f.wantState(b, queue.StateCalled)
		f.wantState(d, queue.StateCalled)

		e := f.take("e")
		_, err = f.line.Skip(f.ctx, e.Ticket.Label)
		if qe := wantCode(t, err, queue.CodeNotCalled); qe.Ticket != "A004" || qe.State != queue.StateWaiting {
			t.Fatalf("skip waiting: %+v", qe)
		}
		_, err = f.line.Skip(f.ctx, a.Ticket.Label)
		wantCode(t, err, queue.CodeNotCalled) // expired already
		_, err = f.line.Skip(f.ctx, "Z999")
		wantCode(t, err, queue.CodeNotFound)
		for _, bad := range []string{"a000", "A0000", "garbage", "A00"} {
			_, err = f.line.Skip(f.ctx, bad)
			wantCode(t, err, queue.CodeBadRequest)
		}
		if st, _ := f.line.Stats(f.ctx); st.Expired != 2 || st.Called != 2 || st.Length != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestAdminEndSession(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		_, err := f.line.EndSession(f.ctx, a.Ticket.Label)
		if qe := wantCode(t, err, queue.CodeNotServing); qe.Ticket != "A000" || qe.State != queue.StateCalled {
			t.Fatalf("end a called ticket: %+v", qe)
		}
		f.redeem(a)
		v := f.version()
		out, err := f.line.EndSession(f.ctx, a.Ticket.Label)
		f.outcome("end session", out, err, v, "A000", "A001")
		f.wantState(a, queue.StateServed)
		f.wantState(b, queue.StateCalled)
		_, err = f.line.EndSession(f.ctx, a.Ticket.Label)
		wantCode(t, err, queue.CodeNotServing)
		_, err = f.line.EndSession(f.ctx, "B123")
		wantCode(t, err, queue.CodeNotFound)
		_, err = f.line.EndSession(f.ctx, "")
		wantCode(t, err, queue.CodeBadRequest)
	})
}

func TestAdminBansAndUnban(t *testing.T) {
	forEachStore(t, Options{BanDuration: time.Hour}, func(t *testing.T, f *fixture) {
		if bans, total, err := f.line.Bans(f.ctx, 10); err != nil || len(bans) != 0 || total != 0 {
			t.Fatalf("Bans on a fresh line = %v, %d, %v", bans, total, err)
		}
		forge := func(client string) {
			_, err := f.line.Redeem(f.ctx, client, "A000")
			wantCode(t, err, queue.CodeForbidden)
		}
		forge("198.51.100.1")
		t0 := f.clock.Now()
		f.clock.Add(time.Minute)
		forge("2001:db8::/64")
		f.clock.Add(time.Minute)
		_, err := f.line.Redeem(f.ctx, "2001:db8::/64", "A000")
		wantCode(t, err, queue.CodeBanned) // already banned: the ban stands as it was

		bans, total, err := f.line.Bans(f.ctx, 10)
		want := []queue.Ban{
			{Client: "2001:db8::/64", EndsAt: t0.Add(time.Minute + time.Hour)},
			{Client: "198.51.100.1", EndsAt: t0.Add(time.Hour)},
		}
		if err != nil || total != 2 || !slices.Equal(bans, want) {
			t.Fatalf("Bans = %v, %d, %v; want %v, 2", bans, total, err, want)
		}
		if bans, total, _ := f.line.Bans(f.ctx, 1); len(bans) != 1 || total != 2 || bans[0] != want[0] {
			t.Fatalf("Bans(limit 1) = %v, %d", bans, total)
		}

		v := f.version()
		out, err := f.line.Unban(f.ctx, "198.51.100.1")
		f.outcome("unban", out, err, v, "")
		if left, _ := f.line.BanRemaining(f.ctx, "198.51.100.1"); left != 0 {
			t.Fatalf("ban left after unban: %v", left)
		}
		f.take("198.51.100.1")
		if bans, total, _ := f.line.Bans(f.ctx, 10); total != 1 || len(bans) != 1 || bans[0] != want[0] {
			t.Fatalf("Bans after unban = %v, %d", bans, total)
		}
		_, err = f.line.Unban(f.ctx, "198.51.100.1")
		wantCode(t, err, queue.CodeNotFound)
		_, err = f.line.Unban(f.ctx, "")
		wantCode(t, err, queue.CodeBadRequest)

		// A lapsed ban is not listed, and cannot be lifted.
		f.advance(time.Hour + time.Minute)
		if bans, total, _ := f.line.Bans(f.ctx, 10); total != 0 || len(bans) != 0 {
			t.Fatalf("Bans after they lapsed = %v, %d", bans, total)
		}
		_, err = f.line.Unban(f.ctx, "2001:db8::/64")
		wantCode(t, err, queue.CodeNotFound)
		if st, _ := f.line.Stats(f.ctx); st.Bans != 2 {
			t.Fatalf("stats bans %d, want 2 ever made", st.Bans)
		}
	})
}

func TestAdminStoreDown(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		for name, call := range map[string]func() error{
			"pause":    func() error { _, err := f.line.Pause(ctx); return err },
			"counters": func() error { _, err := f.line.SetCounters(ctx, 2); return err },
			"bans":     func() error { _, _, err := f.line.Bans(ctx, 1); return err },
			"stats":    func() error { _, err := f.line.AdminStats(ctx); return err },
		} {
			if code := queue.ErrorCode(call()); code != queue.CodeUnavailable {
				t.Errorf("%s with the store gone: code %q, want unavailable", name, code)
			}
		}
	})
}

// TestAdminReplayDoesNotActTwice: go-redis resends a script whose reply was
// lost. A replayed skip (the same operation id) answers what the first run
// did and expires nobody else.
func TestAdminReplayDoesNotActTwice(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, f *fixture) {
		a, b := f.take("a"), f.take("b")
		c := f.take("c")
		const op = "0123456789abcdef0123456789abcdef"
		var first, again adminReply
		if err := f.line.call(f.ctx, "admin_skip", &first, "0", op); err != nil {
			t.Fatal(err)
		}
		if err := f.line.call(f.ctx, "admin_skip", &again, "0", op); err != nil { // the reply was "lost"
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", first) != fmt.Sprintf("%+v", again) {
			t.Fatalf("the replay answered %v, the first run %v", again, first)
		}
		f.wantState(a, queue.StateExpired)
		f.wantState(b, queue.StateCalled) // not skipped by the replay
		f.wantState(c, queue.StateWaiting)
		// A new operation does act.
		out, err := f.line.Skip(f.ctx, "")
		if err != nil || out.Ticket != b.Ticket.Label {
			t.Fatalf("a second skip = %+v, %v; want %s skipped", out, err, b.Ticket.Label)
		}
		f.wantState(c, queue.StateCalled)
	})
}
