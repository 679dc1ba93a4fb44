// The live line: one WebSocket to /api/v1/ws, reconnected with exponential
// backoff and jitter, delivering snapshots strictly in version order.
// No DOM here: the pages render what it reports (and node tests drive it).

/** The WebSocket URL of the live line for a page at `loc` (window.location). */
export function liveURL(loc) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/api/v1/ws`;
}

/** The wait before reconnect attempt `attempt` (0-based): doubling from min to max, then jittered to 50–100 %. */
export function backoffDelay(attempt, random = Math.random, min = 500, max = 10000) {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * LiveClient keeps one WebSocket open and reports through callbacks:
 *  - onSnapshot(snapshot, {replayed}): only for versions above the last one
 *    delivered; `replayed` marks the first one on a connection (an old `now`);
 *  - onTicket(message): `ticket` messages for the watched token;
 *  - onStale(): the server lost its store; the client resyncs by reconnecting;
 *  - onStatus({state, attempt, retryAt, stale}): state is "connecting" (first
 *    attempt), "live" (first snapshot received) or "reconnecting" (waiting
 *    retryAt, local epoch ms, for the next attempt, or trying again).
 * After every (re)connect it sends {"type":"watch"} again for the watched token.
 */
export class LiveClient {
  constructor({
    url,
    onSnapshot = () => {},
    onTicket = () => {},
    onStale = () => {},
    onStatus = () => {},
    WebSocketImpl = globalThis.WebSocket,
    random = Math.random,
    setTimer = (fn, ms) => setTimeout(fn, ms),
    clearTimer = (id) => clearTimeout(id),
    now = () => Date.now(),
    minDelay = 500,
    maxDelay = 10000,
  }) {
    Object.assign(this, { url, onSnapshot, onTicket, onStale, onStatus, WebSocketImpl, random, setTimer, clearTimer, now, minDelay, maxDelay });
    this.ws = null;
    this.token = null;
    this.lastVersion = -Infinity;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.everLive = false;
    this.status = { state: 'connecting', attempt: 0, retryAt: 0, stale: false };
  }

  /** Opens the connection (idempotent). */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes the connection and stops reconnecting. */
  stop() {
    this.stopped = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
  }

  /** Watches `token` (or nothing, when null): sent now if open, and again after every reconnect. */
  watch(token) {
    const changed = token !== this.token;
    this.token = token || null;
    if (changed && this.token) this.sendWatch();
  }

  /** Skips the remaining backoff wait and tries at once (e.g. when the browser goes back online). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.connect();
  }

  sendWatch() {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || !this.token) return;
    try {
      ws.send(JSON.stringify({ type: 'watch', token: this.token }));
    } catch {
      // The close handler reconnects and watches again.
    }
  }

  setStatus(patch) {
    this.status = { ...this.status, ...patch };
    this.onStatus(this.status);
  }

  connect() {
    this.timer = null;
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.setStatus({ state: this.everLive || this.attempt > 0 ? 'reconnecting' : 'connecting', retryAt: 0 });
    let gotSnapshot = false;
    ws.onopen = () => {
      if (this.ws === ws) this.sendWatch();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // not ours to guess at
      }
      if (!msg || typeof msg !== 'object') return;
      switch (msg.type) {
        case 'snapshot': {
          const first = !gotSnapshot;
          if (first) {
            gotSnapshot = true;
            this.attempt = 0; // only a connection that delivered data resets the backoff
            this.everLive = true;
            this.setStatus({ state: 'live', attempt: 0, retryAt: 0, stale: false });
          }
          if (typeof msg.version === 'number' && msg.version > this.lastVersion) {
            this.lastVersion = msg.version;
            // The first snapshot on a connection is the hub's last broadcast,
            // replayed: its `now` may be long past.
            this.onSnapshot(msg, { replayed: first });
          }
          break;
        }
        case 'ticket':
          this.onTicket(msg);
          break;
        case 'stale':
          // The server lost its store. Versions still never go back (the
          // store starts a lost version above every earlier one), so the
          // next snapshot must be newer than the last one shown.
          this.setStatus({ stale: true });
          this.onStale();
          this.drop(ws);
          break;
        default:
          break;
      }
    };
    ws.onclose = () => this.drop(ws);
    ws.onerror = () => this.drop(ws);
  }

  /** Forgets `ws` (closing it if needed) and schedules the next attempt. */
  drop(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
    if (!this.stopped) this.scheduleReconnect();
  }

  scheduleReconnect() {
    const delay = backoffDelay(this.attempt, this.random, this.minDelay, this.maxDelay);
    this.attempt += 1;
    this.setStatus({ state: 'reconnecting', attempt: this.attempt, retryAt: this.now() + delay });
    this.timer = this.setTimer(() => this.connect(), delay);
  }
}
