package redisline

import (
	"fmt"
	"testing"
)

// TestLostHeadIsRebuilt: the line finds its head through K.head and K.gone
// (lib.lua, line_head) instead of sorting the line. A store that lacks them
// — a line kept by a release without them, or keys lost — rebuilds them
// from the line itself: the line answers exactly as the model still, when
// they are deleted at random moments of a random run.
func TestLostHeadIsRebuilt(t *testing.T) {
	for _, seed := range []uint64{11, 12} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			forEachStore(t, diffOptions, func(t *testing.T, f *fixture) {
				d := newDiff(t, f, seed)
				head, gone := keyOf(f.line.prefix, "head"), keyOf(f.line.prefix, "gone")
				lost := 0
				for i := range 600 {
					if d.rng.IntN(10) == 0 {
						n, err := f.rdb.Del(f.ctx, head, gone).Result()
						if err != nil {
							t.Fatal(err)
						}
						lost += int(n)
					}
					d.step(i)
				}
				if lost == 0 {
					t.Fatal("the run never lost K.head: it tested nothing")
				}
			})
		})
	}
}
