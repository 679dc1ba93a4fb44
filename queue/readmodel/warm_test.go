package readmodel_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/memline"
	"github.com/catqms/catqms/queue/readmodel"
)

// TestAReplicaThatStartsEstimatesAsTheOthers: a replica that starts while
// the line has long been moving (a restart, one more replica) replays the
// kept log into its estimate: it measures the same flow, calibrates the
// same range and gives the same estimates as a replica that followed the
// line from its first ticket, and it has the scores of those calls (its
// stats) without telling them to the metrics again. With the replay off
// it starts from nothing, and differs; a replay cut short by Options.Warm
// still learns the flow from what it read.
func TestAReplicaThatStartsEstimatesAsTheOthers(t *testing.T) {
	settings := queue.Settings{Counters: 2, MaxQueue: 500, MaxTicketsPerClient: 500, HeadWindow: 30 * time.Second,
		ViewWindow: 60 * time.Second, BanDuration: 5 * time.Minute}
	d := newMover(t, settings, 11)
	d.countersEvery, d.banEvery, d.banAt = 150, 61, 30
	clk, line := d.clk, d.line
	ctx := context.Background()
	opts := func(warm int, scores *int) readmodel.Options {
		o := readmodel.Options{Clock: clk, PageSize: 4, HeadWindow: settings.HeadWindow, FlowETA: true, Warm: warm,
			Flow: flow.Config{Counters: settings.Counters, ViewWindow: settings.ViewWindow}}
		o.Flow.OnScore = func(flow.Score) { *scores++ }
		return o
	}
	var followerScores int
	follower := readmodel.New(line, opts(0, &followerScores))
	if err := follower.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// A line that moves for a while: takes, sessions, leaves, no-shows, a
	// counter opened and closed, bans, with time passing.
	var (
		midway     *readmodel.Replica
		midwayFrom int64 // the version it loaded
	)
	for step := range 1500 {
		d.step(ctx, step)
		if err := follower.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if step == 1200 {
			// One more replica starts here, the clock at the last entry: a
			// replay from this entry on must count the same people waiting
			// and leaving as it does.
			if _, err := line.Take(ctx, "mid"); err != nil {
				t.Fatal(err)
			}
			midway = readmodel.New(line, opts(-1, new(int)))
			if err := midway.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			midwayFrom = midway.Version()
			if err := follower.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The last step is now: a replica loading at once sees the line's clock
	// where the follower's last entry left it.
	for i := 0; i < 3; i++ {
		if _, err := line.Take(ctx, fmt.Sprintf("late%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*readmodel.Replica{follower, midway} {
		if err := r.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	followed := follower.Flow()
	if followed.Holds == 0 || followed.Waiting < 3 {
		t.Fatalf("the line did not move enough to tell: %+v", followed)
	}
	if followerScores == 0 {
		t.Fatal("the follower scored no call")
	}

	var startedScores, coldScores, shortScores int
	started := readmodel.New(line, opts(0, &startedScores)) // DefaultWarm: more than this log holds
	cold := readmodel.New(line, opts(-1, &coldScores))
	short := readmodel.New(line, opts(int(follower.Version()-midwayFrom+1), &shortScores))
	for _, r := range []*readmodel.Replica{started, cold, short} {
		if err := r.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}

	if got := started.Flow(); !reflect.DeepEqual(got, followed) {
		t.Fatalf("the started replica's flow\n %+v\nthe follower's\n %+v", got, followed)
	}
	for pos := int64(1); pos <= followed.Called+followed.Waiting+5; pos++ {
		want, _ := follower.Estimate(pos)
		got, err := started.Estimate(pos)
		if err != nil || got != want {
			t.Fatalf("position %d: the started replica estimates %+v (%v), the follower %+v", pos, got, err, want)
		}
	}
	wantAcc, gotAcc := follower.Accuracy(24*time.Hour), started.Accuracy(24*time.Hour)
	if !reflect.DeepEqual(gotAcc, wantAcc) {
		t.Fatalf("the started replica's scores\n %+v\nthe follower's\n %+v", gotAcc, wantAcc)
	}
	if startedScores != 0 || shortScores != 0 {
		t.Fatalf("the replay told the metrics %d and %d scores; they count only live ones", startedScores, shortScores)
	}

	// Without the replay the flow is the view window's guess: not the line's.
	if c := cold.Flow(); c.Holds != 0 || reflect.DeepEqual(c.Widen, followed.Widen) {
		t.Fatalf("a replica that replays nothing has measured %d holds (widen %v)", c.Holds, c.Widen)
	}
	if c := cold.Accuracy(24 * time.Hour); c.Flow[flow.PointTake].Calls != 0 {
		t.Fatalf("a replica that replays nothing has scores: %+v", c)
	}
	// A replay cut short learns the flow from the entries it read: as many
	// waiting and leaving as a replica that followed from there (which
	// knew the calls before it, so its holds may differ).
	s, m := short.Flow(), midway.Flow()
	if s.Holds == 0 || s.Waiting != followed.Waiting || s.Counters != followed.Counters {
		t.Fatalf("the replay from version %d: %+v (the follower's %+v)", midwayFrom, s, followed)
	}
	if s.LeaveRate != m.LeaveRate || m.LeaveRate == 0 {
		t.Fatalf("the replay from version %d: leave rate %v, the replica that followed from there %v", midwayFrom, s.LeaveRate, m.LeaveRate)
	}
	for pos := int64(1); pos <= 20; pos++ {
		if e, err := short.Estimate(pos); err != nil || e.Low > e.Mid || e.Mid > e.High {
			t.Fatalf("position %d: %+v (%v)", pos, e, err)
		}
	}

	// From then on the started replica follows the line as the others do.
	for i := 0; i < 40 && len(d.issued) > 0; i++ {
		_, _ = line.Redeem(ctx, "x", d.issued[d.rng.IntN(len(d.issued))].Token)
		clk.Add(7 * time.Second)
		_ = line.Advance(ctx)
		for _, r := range []*readmodel.Replica{follower, started} {
			if err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for pos := int64(1); pos <= 8; pos++ {
			want, _ := follower.Estimate(pos)
			if got, _ := started.Estimate(pos); got.High <= 0 && want.High > 0 {
				t.Fatalf("after %d moves, position %d: %+v, the follower %+v", i, pos, got, want)
			}
		}
	}
}

// TestAReplayThatStartsAfterACall: tickets called before the first entry
// replayed are unknown to the replay; their ends must not count as people
// leaving the line (a Book takes an unknown ticket's leave for a waiting
// one's), while the calls it saw measure holds.
func TestAReplayThatStartsAfterACall(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	settings := queue.Settings{Counters: 1, MaxQueue: 50, MaxTicketsPerClient: 50, HeadWindow: 30 * time.Second, ViewWindow: 60 * time.Second}
	line, err := memline.New(settings, []byte("warm-test-secret-0123456789abc"), clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := line.Take(ctx, "a") // called at once
	if err != nil || first.Ticket.State != queue.StateCalled {
		t.Fatalf("the first take: %+v, %v", first.Ticket, err)
	}
	probe := readmodel.New(line, readmodel.Options{Clock: clk, Warm: -1})
	if err := probe.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	afterCall := probe.Version()
	for i := range 5 {
		clk.Add(time.Second)
		if _, err := line.Take(ctx, fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the first called expires, then the next one
		clk.Add(31 * time.Second)
		if err := line.Advance(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := probe.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rep := readmodel.New(line, readmodel.Options{Clock: clk, HeadWindow: settings.HeadWindow, FlowETA: true,
		Warm: int(probe.Version() - afterCall), Flow: flow.Config{Counters: 1, ViewWindow: settings.ViewWindow}})
	if err := rep.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f := rep.Flow()
	if f.Holds != 1 || f.MeanHold != 31*time.Second || f.Waiting != 3 || f.Called != 1 {
		t.Fatalf("flow %+v: want one hold of 31s (the second call's, seen whole), 3 waiting, 1 called", f)
	}
	if f.LeaveRate != 0 {
		t.Fatalf("leave rate %v: nobody left while waiting (the first ticket was called before the replay)", f.LeaveRate)
	}
}
