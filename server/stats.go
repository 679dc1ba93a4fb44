package server

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// GET /api/v1/stats is what the stats page (/stats) draws: the running
// totals (the public fields of GET /api/v1/admin/stats, same names), and,
// when main wires a RecentReader, the line's flow over the last hours, the
// wait-time distribution, the no-show and leave rates and the wait
// estimate's accuracy. The page fetches the verification verdict itself
// (GET /api/v1/history/verify).

// RecentReader is what the stats page's charts read beyond the totals: the
// read model and the wait estimate's book (queue/flow) fill it.
type RecentReader interface {
	Recent(ctx context.Context) (Recent, error)
}

// Recent is the line's recent flow and the estimate's record.
type Recent struct {
	Step     time.Duration // the width of each Points bucket, e.g. a minute
	Points   []RecentPoint // oldest first, over the last hours
	Waits    []WaitBucket  // how long called tickets waited, over Rates.Window
	Rates    Rates
	Accuracy []Accuracy // one per window: the last hour, the last day
}

// RecentPoint is one Step of the line's flow.
type RecentPoint struct {
	At      time.Time // the bucket's start
	InLine  int64     // waiting and called tickets at the bucket's end
	Called  int64     // calls in the bucket
	Served  int64     // sessions that ended in the bucket
	NoShows int64     // calls that expired in the bucket
	Left    int64     // tickets that left the line in the bucket
}

// WaitBucket counts the tickets whose wait from taking to call fell in
// [From, To); To 0 is the open last bucket.
type WaitBucket struct {
	From, To time.Duration
	Count    int64
}

// Rates are the line's outcomes over Window.
type Rates struct {
	Window  time.Duration
	Calls   int64 // tickets called
	NoShows int64 // called tickets that expired
	Taken   int64 // tickets taken
	Left    int64 // tickets that left the line, waiting or called (bans included)
}

// Accuracy is how the wait estimate fared over Window, against the naive
// estimate (position × one ticket's share) scored the same way.
type Accuracy struct {
	Window      time.Duration
	Calls       int64   // calls scored
	MedianAPE   float64 // median absolute percentage error, a fraction (0.15 = 15%)
	Inside      float64 // share of calls whose wait fell inside the predicted range
	NaiveMedian float64 // the naive estimate's median absolute percentage error
	NaiveInside float64 // the naive estimate's share inside its ±20% band
}

// publicStatsBody answers GET /api/v1/stats.
type publicStatsBody struct {
	Now                 apiTime `json:"now"`
	Issued              int64   `json:"issued"`
	Served              int64   `json:"served"`
	Expired             int64   `json:"expired"`
	Left                int64   `json:"left"`
	MeanWaitSeconds     float64 `json:"mean_wait_seconds"`
	MeanServiceSeconds  float64 `json:"mean_service_seconds"`
	Length              int64   `json:"length"`
	Counters            int     `json:"counters"`
	Serving             int64   `json:"serving"`
	Called              int64   `json:"called"`
	ETASecondsPerTicket int64   `json:"eta_seconds_per_ticket"`

	StepSeconds int64           `json:"step_seconds"` // the width of each series point; 0 = no series
	Series      []pointBody     `json:"series"`
	Waits       []waitBody      `json:"wait_distribution"`
	Rates       *ratesBody      `json:"rates,omitempty"`
	Accuracy    []accuracyBody  `json:"accuracy"`
	History     *historyRefBody `json:"history,omitempty"`
}

type pointBody struct {
	At      apiTime `json:"at"`
	InLine  int64   `json:"in_line"`
	Called  int64   `json:"called"`
	Served  int64   `json:"served"`
	NoShows int64   `json:"no_shows"`
	Left    int64   `json:"left"`
}

type waitBody struct {
	FromSeconds int64  `json:"from_seconds"`
	ToSeconds   *int64 `json:"to_seconds,omitempty"` // absent: and longer
	Count       int64  `json:"count"`
}

type ratesBody struct {
	WindowSeconds int64    `json:"window_seconds"`
	Calls         int64    `json:"calls"`
	NoShows       int64    `json:"no_shows"`
	Taken         int64    `json:"taken"`
	Left          int64    `json:"left"`
	NoShowRate    *float64 `json:"no_show_rate"` // no_shows / calls; null without calls
	LeaveRate     *float64 `json:"leave_rate"`   // left / taken; null without takes
}

type accuracyBody struct {
	WindowSeconds int64    `json:"window_seconds"`
	Calls         int64    `json:"calls"`
	MedianAPE     *float64 `json:"median_ape"` // null without calls
	Inside        *float64 `json:"inside"`
	NaiveMedian   *float64 `json:"naive_median_ape"`
	NaiveInside   *float64 `json:"naive_inside"`
}

// historyRefBody says where the record is and how long it is kept.
type historyRefBody struct {
	RetentionSeconds int64  `json:"retention_seconds"`
	Verify           string `json:"verify"`
}

// publicStats is GET /api/v1/stats.
func (s *Server) publicStats(c *gin.Context) {
	ctx := c.Request.Context()
	st, err := s.stats.Stats(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := publicStatsBody{
		Now:    apiTime(s.now()),
		Issued: st.Issued, Served: st.Served, Expired: st.Expired, Left: st.Left,
		MeanWaitSeconds: st.MeanWait.Seconds(), MeanServiceSeconds: st.MeanService.Seconds(),
		Length: st.Length, Counters: st.Counters, Serving: st.Serving, Called: st.Called,
		ETASecondsPerTicket: etaSeconds(st.ETAPerTicket),
		Series:              []pointBody{}, Waits: []waitBody{}, Accuracy: []accuracyBody{},
	}
	if s.records != nil {
		body.History = &historyRefBody{RetentionSeconds: int64(s.cfg.HistoryRetention / time.Second), Verify: "/api/v1/history/verify"}
	}
	if s.recent != nil {
		r, err := s.recent.Recent(ctx)
		if err != nil {
			s.fail(c, err)
			return
		}
		body.addRecent(r)
	}
	respond(c, http.StatusOK, body)
}

// addRecent shows r.
func (b *publicStatsBody) addRecent(r Recent) {
	if len(r.Points) > 0 {
		b.StepSeconds = int64(r.Step / time.Second)
	}
	for _, p := range r.Points {
		b.Series = append(b.Series, pointBody{At: apiTime(p.At), InLine: p.InLine, Called: p.Called,
			Served: p.Served, NoShows: p.NoShows, Left: p.Left})
	}
	for _, w := range r.Waits {
		wb := waitBody{FromSeconds: int64(w.From / time.Second), Count: w.Count}
		if w.To > 0 {
			to := int64(w.To / time.Second)
			wb.ToSeconds = &to
		}
		b.Waits = append(b.Waits, wb)
	}
	if r.Rates.Window > 0 {
		b.Rates = &ratesBody{WindowSeconds: int64(r.Rates.Window / time.Second), Calls: r.Rates.Calls,
			NoShows: r.Rates.NoShows, Taken: r.Rates.Taken, Left: r.Rates.Left,
			NoShowRate: ratio(r.Rates.NoShows, r.Rates.Calls), LeaveRate: ratio(r.Rates.Left, r.Rates.Taken)}
	}
	for _, a := range r.Accuracy {
		ab := accuracyBody{WindowSeconds: int64(a.Window / time.Second), Calls: a.Calls}
		if a.Calls > 0 {
			ab.MedianAPE, ab.Inside = finite(a.MedianAPE), finite(a.Inside)
			ab.NaiveMedian, ab.NaiveInside = finite(a.NaiveMedian), finite(a.NaiveInside)
		}
		b.Accuracy = append(b.Accuracy, ab)
	}
}

// ratio is n/d, or nil (JSON null) when d is 0.
func ratio(n, d int64) *float64 {
	if d <= 0 {
		return nil
	}
	return finite(float64(n) / float64(d))
}

// finite is f, or nil when JSON cannot carry it.
func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
