package readmodel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/catqms/catqms/queue"
	"github.com/catqms/catqms/queue/memline"
)

// mover moves a memline line at random, as people and an operator would:
// takes from nine clients, redemptions (a session's start and end), leaves,
// counters set every countersEvery steps, a forged token (a ban) at every
// step ≡ banAt modulo banEvery (banEvery 0: none), and time passing with
// the line brought up to it.
type mover struct {
	line          *memline.Line
	clk           *clock
	rng           *rand.Rand
	issued        []queue.Issued
	countersEvery int
	banEvery      int
	banAt         int
}

// newMover starts a line of settings on a clock at a fixed day.
func newMover(t *testing.T, settings queue.Settings, seed uint64) *mover {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	line, err := memline.New(settings, []byte("mover-test-secret-0123456789abc"), clk)
	if err != nil {
		t.Fatal(err)
	}
	return &mover{line: line, clk: clk, rng: rand.New(rand.NewPCG(seed, seed+1)), countersEvery: 50}
}

func (d *mover) step(ctx context.Context, step int) {
	switch r := d.rng.IntN(10); {
	case d.banEvery > 0 && step%d.banEvery == d.banAt:
		_, _ = d.line.Redeem(ctx, fmt.Sprintf("c%d", d.rng.IntN(9)), "forged-"+fmt.Sprint(step))
	case r < 4:
		if is, err := d.line.Take(ctx, fmt.Sprintf("c%d", d.rng.IntN(9))); err == nil {
			d.issued = append(d.issued, is)
		}
	case r < 6 && len(d.issued) > 0:
		_, _ = d.line.Redeem(ctx, "x", d.issued[d.rng.IntN(len(d.issued))].Token)
	case r < 7 && len(d.issued) > 0:
		_ = d.line.Leave(ctx, "x", d.issued[d.rng.IntN(len(d.issued))].Token)
	case r < 8 && step%d.countersEvery == 0:
		_, _ = d.line.SetCounters(ctx, 1+d.rng.IntN(3))
	default:
		d.clk.Add(time.Duration(d.rng.IntN(40)) * time.Second)
		_ = d.line.Advance(ctx)
	}
}
