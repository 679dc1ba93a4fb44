package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// runBareHTTP is S1's ceiling: a bare net/http handler that makes the same
// go-redis call catqms makes to take a ticket (the take function, through
// FCALL like redisline, with the same KEYS and ARGV shape) and
// answers a small JSON body. No Gin, no middleware, no token signing.
func runBareHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare-http", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	redisAddr := fs.String("redis", "", "Redis address")
	counters := fs.Int("counters", 1, "counters setting sent with each call")
	_ = fs.Parse(args)
	take, err := loadScript("take")
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rdb.Close()
	if err := take.load(ctx, rdb); err != nil {
		return err
	}
	settings := catqmsOpts{counters: *counters}.settings()
	keys := []string{linePrefix + "ver"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/token", func(w http.ResponseWriter, r *http.Request) {
		var nonce [16]byte
		_, _ = rand.Read(nonce[:])
		argv := make([]any, 0, 2+len(settings)+2)
		argv = append(argv, linePrefix, lineNow)
		argv = append(argv, settings...)
		argv = append(argv, "bare", hex.EncodeToString(nonce[:]))
		v, err := take.run(r.Context(), rdb, keys, argv...).Result()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !replyOK(v) {
			http.Error(w, fmt.Sprint(v), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		seq, _ := replyField(v, "seq")
		state, _ := replyField(v, "state")
		position, _ := replyField(v, "position")
		_ = json.NewEncoder(w).Encode(map[string]any{"seq": seq, "state": state, "position": position})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	return serveUntil(ctx, *addr, mux)
}

func serveUntil(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// runBareHub is S4's ceiling: the broadcast hub of gorilla/websocket's
// examples/chat, as bare as it gets (one owner goroutine, a reader and a
// writer goroutine per connection, a 256-message send buffer, a slow client
// dropped), fanning out one prepared message per change. POST
// /change?length=L broadcasts a message shaped and sized like a catqms
// snapshot with that length and the current time in "now".
func runBareHub(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare-hub", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	padTo := fs.Int("size", 1400, "bytes per message (a catqms snapshot's size)")
	_ = fs.Parse(args)

	h := &bareHub{
		clients:    map[*bareClient]bool{},
		register:   make(chan *bareClient),
		unregister: make(chan *bareClient),
		broadcast:  make(chan *websocket.PreparedMessage, 64),
	}
	go h.run()
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &bareClient{hub: h, conn: conn, send: make(chan *websocket.PreparedMessage, 256)}
		h.register <- c
		go c.writePump()
		go c.readPump()
	})
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, r *http.Request) {
		length, _ := strconv.ParseInt(r.URL.Query().Get("length"), 10, 64)
		msg := fmt.Appendf(nil, `{"type":"snapshot","version":%d,"now":%q,"length":%d,"counters":1,"serving":[],"called":[],"waiting":[`,
			length, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), length)
		pad := max((*padTo-len(msg)-40)/18, 0)
		msg = append(msg, strings.TrimSuffix(strings.Repeat(`{"ticket":"A042"},`, pad), ",")...)
		msg = append(msg, `],"eta_seconds_per_ticket":60}`...)
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.broadcast <- pm
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
	return serveUntil(ctx, *addr, mux)
}

type bareHub struct {
	clients    map[*bareClient]bool
	register   chan *bareClient
	unregister chan *bareClient
	broadcast  chan *websocket.PreparedMessage
	latest     *websocket.PreparedMessage
}

type bareClient struct {
	hub  *bareHub
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

func (h *bareHub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			if h.latest != nil {
				c.send <- h.latest // like catqms: a new client starts with the latest message
			}
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			h.latest = m
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
				}
			}
		}
	}
}

const (
	bareWriteWait  = 10 * time.Second
	barePongWait   = 60 * time.Second
	barePingPeriod = barePongWait * 9 / 10
)

func (c *bareClient) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(4096)
	_ = c.conn.SetReadDeadline(time.Now().Add(barePongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(barePongWait)) })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *bareClient) writePump() {
	t := time.NewTicker(barePingPeriod)
	defer func() {
		t.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case m, ok := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(bareWriteWait))
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage, nil)
				return
			}
			if err := c.conn.WritePreparedMessage(m); err != nil {
				return
			}
		case <-t.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(bareWriteWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}
