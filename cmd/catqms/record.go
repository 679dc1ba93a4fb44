package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/catqms/catqms/queue/record"
	"github.com/catqms/catqms/queue/recordlog"
	"github.com/catqms/catqms/queue/redisline"
	"github.com/catqms/catqms/server"
)

// historyOf serves GET /api/v1/history from the line's change log.
type historyOf struct{ log *recordlog.Log }

// History is server.History.
func (h historyOf) History(ctx context.Context, q server.HistoryQuery) ([]record.Entry, error) {
	return h.log.Page(ctx, recordlog.Query(q))
}

// trimEvery is how often a replica trims the record to --history: each
// replica does, and the anchor's compare-and-set (redisline.TrimRecord)
// keeps them consistent, so no replica has to be the one that trims.
func trimEvery(history time.Duration) time.Duration {
	return min(max(history/100, time.Second), time.Minute)
}

// startRecordTrim trims the record to history by age until the returned
// stop is called; stop waits for a trim under way.
func startRecordTrim(ctx context.Context, line *redisline.Line, history time.Duration, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(trimEvery(history))
		defer tick.Stop()
		for {
			// Entries are timed by the line's clock (the store's): age is
			// measured by it too, so a replica whose clock is off trims
			// what the others would.
			if n, err := line.TrimRecord(ctx, line.Now().Add(-history)); err != nil && ctx.Err() == nil {
				logger.Warn("trimming the public record", "err", err)
			} else if n > 0 {
				logger.Debug("public record trimmed", "entries", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
