package redisline

import (
	"context"
	"time"
)

// advanceTimeout bounds one background advance.
const advanceTimeout = 2 * time.Second

// schedule runs the advance script at the earliest known deadline, and at
// least every Tick. Every replica does this; the script is idempotent, so
// the first replica to run it after a deadline does the work and the rest
// find nothing to do. A replica that dies leaves its deadlines to the
// others, which learn them from the change log (follow.go) or their own tick.
func (l *Line) schedule() {
	defer l.wg.Done()
	timer := time.NewTimer(0) // advance once at start
	defer timer.Stop()
	var next int64 // the deadline the timer is set for, the line's Unix ms; 0 = tick
	set := func(deadline int64) {
		wait := l.opts.Tick
		if deadline > 0 {
			// The deadline is on the line's clock (the store's); this
			// replica's may differ, by the offset its last answer showed.
			local := deadline - l.offset.Load()
			wait = min(time.Duration(local-l.local.Now().UnixMilli()+1)*time.Millisecond, l.opts.Tick)
		}
		next = deadline
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 0))
	}
	failing := false
	for {
		select {
		case <-l.stop:
			return
		case d := <-l.wake:
			if next == 0 || d < next {
				set(d)
			}
		case <-timer.C:
			ctx, cancel := context.WithTimeout(context.Background(), advanceTimeout)
			r, err := l.advance(ctx)
			cancel()
			if err != nil {
				if !failing {
					l.log.Warn("advancing the line failed; retrying", "err", err)
					l.signal() // watchers learn at once that the store is gone
				}
				failing = true
				set(0)
				continue
			}
			if failing {
				l.log.Info("advancing the line works again")
				l.signal() // and that it is back
				failing = false
			}
			set(r.Next)
		}
	}
}
