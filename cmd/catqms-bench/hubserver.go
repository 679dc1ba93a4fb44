package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/catqms/catqms/hub"
)

// runHubServer serves catqms's own hub package alone (no Gin, no live feed,
// no store) with pprof and runtime memory statistics: it is how the bench
// profiles the fan-out in process. POST /change?length=L broadcasts like
// the bare hub; GET /memstats answers runtime.MemStats after a GC.
func runHubServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hub-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	padTo := fs.Int("size", 1400, "bytes per message")
	_ = fs.Parse(args)
	h := hub.New(hub.Config{}, nil)
	defer h.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) { _ = h.Serve(w, r, nil) })
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, r *http.Request) {
		length, _ := strconv.ParseInt(r.URL.Query().Get("length"), 10, 64)
		msg := fmt.Appendf(nil, `{"type":"snapshot","version":%d,"now":%q,"length":%d,"waiting":[`,
			length, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), length)
		pad := max((*padTo-len(msg)-40)/18, 0)
		msg = append(msg, strings.TrimSuffix(strings.Repeat(`{"ticket":"A042"},`, pad), ",")...)
		msg = append(msg, `]}`...)
		h.Broadcast(msg)
	})
	mux.HandleFunc("GET /memstats", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"clients": h.Clients(), "goroutines": runtime.NumGoroutine(),
			"heap_inuse": m.HeapInuse, "heap_alloc": m.HeapAlloc, "stack_inuse": m.StackInuse,
			"sys": m.Sys, "heap_objects": m.HeapObjects,
		})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	return serveUntil(ctx, *addr, mux)
}

// runWatch connects n idle watchers to a WebSocket URL and holds them until
// interrupted: a probe for memory measurements by hand.
func runWatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	url := fs.String("url", "", "WebSocket URL")
	n := fs.Int("n", 1000, "watchers")
	_ = fs.Parse(args)
	ws, err := connectWatchers(ctx, *url, *n, newChangeLog(1))
	if err != nil {
		return err
	}
	defer ws.close()
	fmt.Println("connected", *n)
	<-ctx.Done()
	return nil
}
