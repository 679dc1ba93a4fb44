package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Cache-Control": {"no-store"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestCheckCatchesDrift: the checker refuses answers that differ from the
// document in each way the document pins down, and accepts the real shapes.
// Without this, a checker that accepted everything would pass every test.
func TestCheckCatchesDrift(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	const (
		ticket  = `{"ticket":"A001","state":"waiting","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`
		token   = `"token":"AqpN4I0AAAAAAAAACWu5QxDebLMvTiKdocqwGGu94NWC-lIWuyInJgr5TY46"`
		session = `{"ticket":"A000","state":"serving","image_url":"/api/v1/images/AAAAAAAAAAHuaWsbHhVRz8EOm3XKnlHK","until":"2026-12-04T23:27:03.142Z"}`
	)
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		wantErr            string // "" = valid
	}{
		{"issued", "GET", "/api/v1/token", 200, jsonHeader(), `{` + token + `,"ticket":"A001","state":"waiting","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, ""},
		{"issued without token", "GET", "/api/v1/token", 200, jsonHeader(), ticket, "token"},
		{"issued with a version 1 token", "GET", "/api/v1/token", 200, jsonHeader(), `{"token":"AQAAAAAAAAACcytFP6N0fDa4vphSCfU7FuIS7LMBYoHk_jHHb8I_1bI","ticket":"A001","state":"waiting","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, "token"},
		{"issued without no-store", "GET", "/api/v1/token", 200, http.Header{"Content-Type": {"application/json"}}, `{` + token + `,"ticket":"A001","state":"waiting","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, "Cache-Control"},
		{"ticket", "GET", "/api/v1/ticket", 200, jsonHeader(), ticket, ""},
		{"ticket with an unknown field", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"waiting","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90,"color":"red"}`, "color"},
		{"waiting ticket without its range", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"waiting","position":2,"eta_seconds":60}`, "eta_low_seconds"},
		{"served ticket with a range", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"served","eta_high_seconds":0}`, "eta_high_seconds"},
		{"not your turn without its range", "POST", "/api/v1/kitty", 409, jsonHeader("Retry-After", "30"), `{"error":"not_your_turn","message":"m","position":2,"eta_seconds":60}`, "eta_high_seconds"},
		{"waiting ticket without position", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"waiting","eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, "position"},
		{"served ticket with a position", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"served","position":1,"eta_seconds":0,"eta_low_seconds":0,"eta_high_seconds":0}`, "position"},
		{"called ticket without deadline", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"A001","state":"called","position":1,"eta_seconds":0,"eta_low_seconds":0,"eta_high_seconds":0}`, "deadline"},
		{"a label that is not one", "GET", "/api/v1/ticket", 200, jsonHeader(), `{"ticket":"a1","state":"left"}`, "ticket"},
		{"session", "POST", "/api/v1/kitty", 200, jsonHeader(), session, ""},
		{"session time without milliseconds", "POST", "/api/v1/kitty", 200, jsonHeader(), strings.Replace(session, ".142Z", "Z", 1), "until"},
		{"session time with two decimals", "POST", "/api/v1/kitty", 200, jsonHeader(), strings.Replace(session, ".142Z", ".14Z", 1), "until"},
		{"picture", "POST", "/api/v1/kitty", 200, http.Header{"Content-Type": {"image/png"}, "Cache-Control": {"private, no-store"}}, "\x89PNG", ""},
		{"not your turn", "POST", "/api/v1/kitty", 409, jsonHeader("Retry-After", "30"), `{"error":"not_your_turn","message":"m","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, ""},
		{"not your turn without Retry-After", "POST", "/api/v1/kitty", 409, jsonHeader(), `{"error":"not_your_turn","message":"m","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, "Retry-After"},
		{"Retry-After not whole seconds", "POST", "/api/v1/kitty", 409, jsonHeader("Retry-After", "1.5"), `{"error":"not_your_turn","message":"m","position":2,"eta_seconds":60,"eta_low_seconds":45,"eta_high_seconds":90}`, "Retry-After"},
		{"not your turn without position", "POST", "/api/v1/kitty", 409, jsonHeader("Retry-After", "30"), `{"error":"not_your_turn","message":"m"}`, "position"},
		{"gone without state", "POST", "/api/v1/kitty", 410, jsonHeader(), `{"error":"gone","message":"m"}`, "state"},
		{"cross_origin without Retry-After", "POST", "/api/v1/kitty", 403, jsonHeader(), `{"error":"cross_origin","message":"m"}`, ""},
		{"cross_origin on a route that never refuses it", "GET", "/api/v1/ticket", 403, jsonHeader(), `{"error":"cross_origin","message":"m"}`, "error"},
		{"banned without Retry-After where only bans answer 403", "GET", "/api/v1/ticket", 403, jsonHeader(), `{"error":"banned","message":"m"}`, "Retry-After"},
		{"the QR code", "GET", "/qr.svg", 200, http.Header{"Content-Type": {"image/svg+xml"}}, `<svg xmlns="http://www.w3.org/2000/svg"></svg>`, ""},
		{"an error with an empty message", "POST", "/api/v1/kitty", 400, jsonHeader(), `{"error":"bad_request","message":""}`, "message"},
		{"an unknown error code", "POST", "/api/v1/kitty", 400, jsonHeader(), `{"error":"oops","message":"m"}`, "error"},
		{"a code the route does not answer", "GET", "/api/v1/token", 429, jsonHeader("Retry-After", "1"), `{"error":"not_your_turn","message":"m","position":1,"eta_seconds":1,"eta_low_seconds":1,"eta_high_seconds":1}`, "error"},
		{"a status the route does not answer", "GET", "/api/v1/queue", 418, jsonHeader(), `{"error":"internal","message":"m"}`, "status"},
		{"an unknown path", "GET", "/nope", 404, http.Header{"Content-Type": {"application/json"}}, `{"error":"not_found","message":"no such route"}`, ""},
		{"an unknown path answered 200", "GET", "/nope", 200, jsonHeader(), `{}`, "404"},
		{"another method", "PUT", "/api/v1/queue", 405, http.Header{"Content-Type": {"application/json"}, "Allow": {"GET"}}, `{"error":"method_not_allowed","message":"m"}`, ""},
		{"another method without Allow", "PUT", "/api/v1/queue", 405, http.Header{"Content-Type": {"application/json"}}, `{"error":"method_not_allowed","message":"m"}`, "Allow"},
		{"an unban of an IPv6 prefix", "DELETE", "/api/v1/admin/bans/2001:db8::/64", 404, http.Header{"Content-Type": {"application/json"}}, `{"error":"not_found","message":"m"}`, ""},
		{"a cacheable answer", "GET", "/api/v1/queue", 503, jsonHeader("Retry-After", "2", "Cache-Control", "public"), `{"error":"unavailable","message":"m"}`, "Cache-Control"},
		{"a page not modified", "GET", "/board", 304, http.Header{}, "", ""},
		{"a page's HEAD", "HEAD", "/assets/app.js", 200, http.Header{"Content-Type": {"text/javascript"}}, "", ""},
		{"a HEAD with a status not listed", "HEAD", "/", 500, http.Header{}, "", "status"},
		{"a page answered as a picture's route would", "GET", "/api/v1/images/x", 200, http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"private, no-store"}}, "<p>", "Content-Type"},
		{"snapshot", "GET", "/api/v1/queue", 200, jsonHeader(), `{"version":3,"now":"2026-12-04T23:26:03.150Z","length":1,"counters":1,"paused":false,"serving":[{"ticket":"A000","until":"2026-12-04T23:27:03.142Z"}],"called":[],"waiting":[{"ticket":"A001"}],"eta_seconds_per_ticket":60,"take_eta_seconds":60,"take_eta_low_seconds":50,"take_eta_high_seconds":80}`, ""},
		{"snapshot with a type", "GET", "/api/v1/queue", 200, jsonHeader(), `{"type":"snapshot","version":3,"now":"2026-12-04T23:26:03.150Z","length":0,"counters":1,"paused":false,"serving":[],"called":[],"waiting":[],"eta_seconds_per_ticket":60,"take_eta_seconds":60,"take_eta_low_seconds":50,"take_eta_high_seconds":80}`, "type"},
		{"snapshot without waiting", "GET", "/api/v1/queue", 200, jsonHeader(), `{"version":3,"now":"2026-12-04T23:26:03.150Z","length":0,"counters":1,"paused":false,"serving":[],"called":[],"eta_seconds_per_ticket":60,"take_eta_seconds":60,"take_eta_low_seconds":50,"take_eta_high_seconds":80}`, "waiting"},
		{"a serving slot without until", "GET", "/api/v1/queue", 200, jsonHeader(), `{"version":3,"now":"2026-12-04T23:26:03.150Z","length":0,"counters":1,"paused":false,"serving":[{"ticket":"A000"}],"called":[],"waiting":[],"eta_seconds_per_ticket":60,"take_eta_seconds":60,"take_eta_low_seconds":50,"take_eta_high_seconds":80}`, "until"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			err := c.Check(req, tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("accepted; want an error about %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v; want it to name %s", err, tc.wantErr)
			}
		})
	}
}

// TestCheckServerMessage: each WebSocket message kind is accepted, and
// drift is refused.
func TestCheckServerMessage(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{`{"type":"snapshot","version":1,"now":"2026-12-04T23:26:03.150Z","length":0,"counters":1,"paused":false,"serving":[],"called":[],"waiting":[],"eta_seconds_per_ticket":60,"take_eta_seconds":60,"take_eta_low_seconds":50,"take_eta_high_seconds":80}`, true},
		{`{"type":"ticket","ticket":"A001","state":"called","position":1,"eta_seconds":0,"eta_low_seconds":0,"eta_high_seconds":0,"deadline":"2026-12-04T23:27:29.020Z"}`, true},
		{`{"type":"ticket","ticket":"A001","state":"served"}`, true},
		{`{"type":"error","error":"bad_request","message":"watch needs a token"}`, true},
		{`{"type":"stale","message":"the queue store is not answering"}`, true},
		{`{"type":"stale"}`, false},                                   // the message is part of it
		{`{"type":"ticket","ticket":"A001","state":"called"}`, false}, // no position or deadline
		{`{"type":"ticket","token":"x","ticket":"A001","state":"served"}`, false},
		{`{"type":"hello"}`, false},
		{`{"type":"stale","message":"m"}{"type":"stale","message":"m"}`, false}, // two objects in one frame
	} {
		if err := c.CheckServerMessage([]byte(tc.msg)); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.msg, err, tc.ok)
		}
	}
}
