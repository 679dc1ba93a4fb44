package redisline

import (
	"fmt"
	"regexp"
	"strings"
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

// TestScriptsDoNotOrderTheLine: the embedded store sorts a whole sorted set
// for every read that orders one, so no script reads the line in order —
// but line_head's one-time rebuild of a missing cursor.
func TestScriptsDoNotOrderTheLine(t *testing.T) {
	ordered := regexp.MustCompile(`'(ZRANGE|ZREVRANGE|ZRANK|ZREVRANK|ZCOUNT|ZRANGEBYSCORE|ZREVRANGEBYSCORE|ZRANGEBYLEX|ZPOPMIN|ZPOPMAX|ZRANDMEMBER)',\s*K\.line\b`)
	for name, src := range scriptSources {
		lib := strings.Index(src, "local function line_head()")
		rebuilt := strings.Index(src, "local function call_next()")
		if lib < 0 || rebuilt < lib {
			t.Fatalf("%s: line_head and call_next not found in order", name)
		}
		for _, at := range ordered.FindAllStringIndex(src, -1) {
			if at[0] > lib && at[0] < rebuilt {
				continue // the rebuild of a missing K.head
			}
			line := strings.Count(src[:at[0]], "\n") + 1
			t.Errorf("%s, line %d: %s orders the line", name, line, src[at[0]:at[1]])
		}
	}
}
