package redisline

import (
	"testing"

	"github.com/catqms/catqms/queue"
)

// changes are n entries of consecutive versions from v.
func changes(v int64, n int) []queue.Change {
	out := make([]queue.Change, n)
	for i := range out {
		out[i] = queue.Change{Version: v + int64(i), Prev: v + int64(i) - 1}
	}
	return out
}

// The follower's window always holds the newest followWindow entries (at
// least), with nothing missing between from and its newest, and never
// more than twice as many, whatever size the reads come in.
func TestFeedWindowKeepsTheNewest(t *testing.T) {
	f := newFeed()
	f.from = 0
	v := int64(1)
	for _, n := range []int{1, 7, 1000, 1, 3000, 1, 1, 4096, 5000, 1, 999, 8191, 1} {
		for range 3 {
			f.add(changes(v, n))
			v += int64(n)
			newest := v - 1
			if got := f.window[len(f.window)-1].Version; got != newest {
				t.Fatalf("newest entry %d, want %d", got, newest)
			}
			if f.window[0].Version != f.from+1 {
				t.Fatalf("window starts at %d with from %d: entries missing", f.window[0].Version, f.from)
			}
			for i := 1; i < len(f.window); i++ {
				if f.window[i].Version != f.window[i-1].Version+1 {
					t.Fatalf("window skips from %d to %d", f.window[i-1].Version, f.window[i].Version)
				}
			}
			if held := int64(len(f.window)); held < min(newest, followWindow) || held >= 2*followWindow {
				t.Fatalf("window holds %d entries after %d in all, want %d to %d", held, newest, min(newest, followWindow), 2*followWindow-1)
			}
		}
	}
}

// BenchmarkFeedAdd is the follower's work per read of one entry with the
// window full: what a replica pays for every change of a busy line.
func BenchmarkFeedAdd(b *testing.B) {
	f := newFeed()
	f.from = 0
	f.add(changes(1, 2*followWindow))
	v := int64(2*followWindow + 1)
	one := changes(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		one[0].Version, one[0].Prev = v, v-1
		f.add(one)
		v++
	}
}
