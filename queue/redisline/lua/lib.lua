-- lib.lua follows the generated preamble (keys.go: P, K, F and the key
-- functions) in the function library and in every script (scripts.go).
-- Each operation is one atomic step of the line, which begins with begin()
-- below; they all first bring the line up to NOW (the reads only when something is
-- due: catch_up), so deadlines are enforced by whichever script runs first
-- after they pass, on any replica, and never depend on Redis key expiry.
--
-- Every script takes the same first arguments, then its own from ARGV[A]:
-- KEYS[1]   K.ver, the line's version key: routes the script to the line's
--           shard (every key of a line shares the hash tag {name})
-- ARGV[1]   P, the key prefix "catqms:{name}:"
-- ARGV[2]   '' in production: the line's clock is the store's own (TIME),
--           one clock for every replica; a test clock's now in Unix ms
-- ARGV[3…9] the line's settings: counters, head, view, keep and ban in ms,
--           max queue, max tickets per client. They come with every call so
--           that a store that lost its data still runs the line as configured.
-- ARGV[10]  the highest version the calling replica has seen (its floor)
-- ARGV[11]  how many entries the change log (K.log) keeps, about
-- ARGV[A…]  the operation's own arguments (A = 12)
--
-- Every answer is a flat list of field/value pairs (see reply below), read
-- in Go by one decoder into typed structs (protocol.go).
local A = 12

-- What one call works with, set by begin: the line's clock (NOW), its cfg
-- hash as read (C: the operator's counters and pause, then the facts kept
-- there when K.facts is not current), its settings (CFG), the version as
-- read (VER), whether the call changed the line (dirty), the change log's
-- events (LOG) and an operator's reason (WHY). They are locals of the
-- library, not of the call: a Redis function library runs this file once
-- and its functions for every call, so everything a call sees is set here
-- first.
local NOW, C, VER, dirty, LOG, WHY
local CFG = {}
local NO_EVENTS = {} -- LOG while the call has logged nothing (logged() makes a list)

-- The settings come with every call (ARGV[3…9]) and are the same on every
-- call of one replica: they are parsed when they differ from the last
-- call's (Lua strings are interned, so comparing them is cheap). counters
-- and paused are the call's, set by begin from what the operator set.
local SETTINGS = {}
local function settings(argv)
  local s = SETTINGS
  if s[3] == argv[3] and s[4] == argv[4] and s[5] == argv[5] and s[6] == argv[6]
    and s[7] == argv[7] and s[8] == argv[8] and s[9] == argv[9] then return end
  SETTINGS = {nil, nil, argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], argv[9]}
  CFG.start_counters = tonumber(argv[3])
  CFG.head, CFG.view, CFG.keep, CFG.ban = tonumber(argv[4]), tonumber(argv[5]), tonumber(argv[6]), tonumber(argv[7])
  CFG.max_queue, CFG.max_client = tonumber(argv[8]), tonumber(argv[9])
end

-- K.facts holds what the reads need to know of the line, written by every
-- answer that changed it (write_facts) and stamped with the version that
-- answer made. A call that finds the stamp equal to K.ver (both in one
-- MGET) knows, without reading the line's sets, whether anything is due,
-- every ticket's position and whether anyone may be banned. Facts stamped
-- with another version are not used: something else changed the line
-- since (a release before K.facts, which kept only the facts in cfg, see
-- keep_facts; a change made in the store by hand), or the store lost its
-- version; the call then reads the sets, as before K.facts existed, and
-- its answer writes them anew. What an operator sets (cfg's counters and
-- paused) is not among them: every call reads it, so a setting raised in
-- the store by hand (beyond what the admin API allows) counts at once.
-- FACT is the facts as begin read them; FACT.ok when they are current.
-- The fields, in their stored order: the version, the next deadline (0 =
-- none), how many tickets are called and serving, the held time's average
-- (-1 = none), how many tickets are in K.gone, the line's length and the
-- latest end of a ban (0 = none: K.bans' highest score when it was read;
-- every ban since raised it, so a client is banned only before it).
-- K.head itself is read with them (HEAD): a head lost by hand is then
-- rebuilt (line_head) before any position counts from it.
local FACT = {ok = false}
local HEAD, BAN_UNTIL -- the call's: BAN_UNTIL as FACT.ban_until, nil when not known
local FACT_FORMAT = '<dddddddd' -- struct: eight doubles, exact to 2^53
local FACT_TEXT = '%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f'
-- Whether the store has Lua's struct library (Redis has; the embedded
-- store has not, and refuses to read a missing global): asked once, at
-- the first call, since a function library may not read globals while
-- it loads. rawget, not pcall: gopher-lua (the embedded store) closes the
-- open upvalues of the whole chunk when pcall catches an error, which
-- cut lib.lua's functions off from the call's state (dirty, …).
local HAS_STRUCT
local function has_struct()
  if HAS_STRUCT == nil then HAS_STRUCT = rawget(_G, 'struct') ~= nil end
  return HAS_STRUCT
end
local function pack_facts(...)
  if has_struct() then return struct.pack(FACT_FORMAT, ...) end
  return string.format(FACT_TEXT, ...) -- a store without struct (the embedded one)
end
-- read_facts fills FACT from s, the facts as stored, and sets FACT.ok when
-- they describe version ver; facts of another shape are not current.
local function read_facts(s, ver)
  local f = FACT
  if has_struct() then
    if #s ~= 64 then return end
    f.ver, f.next, f.called, f.serving, f.ewma, f.gone, f.length, f.ban_until =
      struct.unpack(FACT_FORMAT, s)
  else
    local v = {}
    for w in string.gmatch(s, '%S+') do v[#v + 1] = tonumber(w) end
    if #v ~= 8 then return end
    f.ver, f.next, f.called, f.serving, f.ewma, f.gone, f.length, f.ban_until = unpack(v)
  end
  f.ok = f.ver == ver
end

-- The cfg hash holds what an operator changes live for every replica
-- (counters, pause), which overrides the settings the replicas were
-- started with, read by every call, and the facts every change keeps there
-- (keep_facts), which the reads use when K.facts is not current: the next
-- deadline, the called and serving counts and the held time's average.
-- Facts hold because only these scripts change a line; a line whose keys
-- were deleted by hand but for its version, cfg and K.facts runs on the
-- old facts until the next answer that reads the line afresh (at the
-- latest at the old next deadline, which advance() then acts on).
local function begin(keys, argv)
  KEYS, ARGV = keys, argv
  P = ARGV[1]
  K = keys_for(P, KEYS[1])
  if ARGV[2] == '' then
    local t = redis.call('TIME')
    NOW = t[1] * 1000 + math.floor(t[2] / 1000)
  else
    NOW = tonumber(ARGV[2])
  end
  settings(ARGV)
  local m = redis.call('MGET', K.ver, K.facts, K.head)
  VER, HEAD = tonumber(m[1]), m[3]
  FACT.ok = false
  if VER and m[2] then read_facts(m[2], VER) end
  if FACT.ok then
    C, BAN_UNTIL = redis.call('HMGET', K.cfg, 'counters', 'paused'), FACT.ban_until
  else
    C, BAN_UNTIL = redis.call('HMGET', K.cfg, 'counters', 'paused', 'next', 'called', 'serving', 'held_ewma'), nil
  end
  CFG.counters = tonumber(C[1]) or CFG.start_counters
  CFG.paused = C[2] == '1'
  dirty, LOG, WHY = false, NO_EVENTS, ''
end

-- The change log: what this step changed, in the order it happened, one
-- token per event; reply() appends it to K.log with the version it makes,
-- so every version has exactly one entry (queue/readmodel reads them).
-- An event is a letter, then the ticket's seq, then @ms for a time:
--   t taken · c called@deadline · r redeemed@until (serving)
--   s served (the holder ended) · S served (its time was up)
--   e served (an operator ended it) · x expired (a no-show) · k skipped
--   (expired by an operator) · l left while waiting · m left while called
--   b banned out while waiting · B banned out while called
-- and without a seq: P paused · U resumed · N counters set (the entry has
-- them) · n an operator's call-next · Y a client banned · y a ban lifted ·
-- W the store had lost the line (a new version) · V the version was lifted
-- past a replica's floor (a failover to a replica that lagged).
-- WHY is an operator's reason for the step (admin_lib.lua sets it), written
-- with the entry as its field why; '' writes none.
local function logged(kind, seq, at)
  if LOG == NO_EVENTS then LOG = {} end
  if at then
    LOG[#LOG + 1] = string.format('%s%d@%.0f', kind, tonumber(seq), at)
  elseif seq then
    LOG[#LOG + 1] = string.format('%s%d', kind, tonumber(seq))
  else
    LOG[#LOG + 1] = kind
  end
end

-- A ticket finished (served, expired or left): record it, stop counting it
-- against its client, and let its record go after keep ms. kind is its
-- event in the change log (served: s, expired: x, left: l by default).
local FINISHED = {served = 's', expired = 'x', left = 'l'}
local function finish(seq, state, kind)
  logged(kind or FINISHED[state], seq)
  local t = tkey(seq)
  redis.call('HSET', t, F.state, state, F.finished, NOW)
  redis.call('PEXPIRE', t, CFG.keep)
  local client = redis.call('HGET', t, F.client)
  if client then redis.call('SREM', ckey(client), seq) end
  redis.call('HINCRBY', K.stats, state, 1)
  dirty = true
end

-- A counter freed: learn how long it was held for one ticket (from the call
-- to the end), which drives the line's wait estimate.
local function freed(seq)
  local ca = tonumber(redis.call('HGET', tkey(seq), F.called_at))
  if not ca then return end
  local held = NOW - ca
  local ew = tonumber(redis.call('HGET', K.stats, 'held_ewma'))
  if ew then ew = ew * 0.8 + held * 0.2 else ew = held end
  redis.call('HSET', K.stats, 'held_ewma', math.floor(ew))
  redis.call('HINCRBY', K.stats, 'held_sum', held)
  redis.call('HINCRBY', K.stats, 'held_n', 1)
end

-- End ticket seq's viewing session now: its counter frees (call_next()
-- afterwards calls the next ticket).
local function end_session(seq, kind)
  redis.call('ZREM', K.serving, seq)
  freed(seq)
  finish(seq, 'served', kind)
end

-- The head of the line is found without reading the line in order: the
-- embedded store (miniredis) sorts a whole sorted set for every ZRANGE,
-- ZRANK or ZCOUNT, so anything that orders the line costs O(n log n) there.
-- K.head is the first seq that may be waiting: every called ticket is below
-- it (tickets are called in order), and every seq from it to K.seq's is
-- either waiting (in line) or in K.gone (it left while waiting). So the next
-- ticket to call is found by walking up from K.head, each step one ZSCORE,
-- and each seq is walked past once.
--
-- line_head returns K.head, rebuilding it (once, in O(n)) when it is
-- missing: a new or wiped line, or one kept by a release without it.
local function line_head()
  local h = tonumber(redis.call('GET', K.head))
  if h then return h end
  local top = tonumber(redis.call('GET', K.seq)) or 0
  local nc = redis.call('ZCARD', K.called)
  local first = redis.call('ZRANGE', K.line, nc, nc)
  redis.call('DEL', K.gone)
  if #first == 0 then
    h = top + 1
  else
    h = tonumber(first[1])
    for s = h + 1, top do
      if not redis.call('ZSCORE', K.line, s) then redis.call('ZADD', K.gone, s, s) end
    end
  end
  redis.call('SET', K.head, h)
  return h
end

-- Call the first waiting tickets while counters are free, walking up from
-- K.head (see line_head).
local function call_next()
  local free = CFG.counters - redis.call('ZCARD', K.serving) - redis.call('ZCARD', K.called)
  if free <= 0 then return end
  local h = line_head()
  local top = tonumber(redis.call('GET', K.seq)) or 0
  local start = h
  while free > 0 and h <= top do
    local seq = h
    h = h + 1
    if redis.call('ZSCORE', K.line, seq) then
      local t = tkey(seq)
      redis.call('ZADD', K.called, NOW + CFG.head, seq)
      redis.call('HSET', t, F.state, 'called', F.called_at, NOW, F.deadline, NOW + CFG.head)
      logged('c', seq, NOW + CFG.head)
      local tk = tonumber(redis.call('HGET', t, F.taken))
      if tk then
        redis.call('HINCRBY', K.stats, 'wait_sum', NOW - tk)
        redis.call('HINCRBY', K.stats, 'wait_n', 1)
      end
      dirty = true
      free = free - 1
    else
      redis.call('ZREM', K.gone, seq) -- below the head now: no position counts it
    end
  end
  if h ~= start then redis.call('SET', K.head, h) end
end

-- The first limit waiting tickets, in order (as ZRANGE line nc nc+limit-1
-- would answer, without sorting the line).
local function first_waiting(limit)
  local out = {}
  local waiting = redis.call('ZCARD', K.line) - redis.call('ZCARD', K.called)
  if limit <= 0 or waiting <= 0 then return out end
  local h = line_head()
  local top = tonumber(redis.call('GET', K.seq)) or 0
  while #out < limit and #out < waiting and h <= top do
    if redis.call('ZSCORE', K.line, h) then out[#out + 1] = string.format('%d', h) end
    h = h + 1
  end
  return out
end

-- keep_facts stores in cfg the facts the reads use when K.facts is not
-- current (see C), when they changed: every answer that read the line
-- afresh does. Returns the held time's average ('' for none), the
-- number serving, and whether the facts had changed (then K.facts, when
-- current, had them too: they are written together).
local function keep_facts(nc, nd)
  local ns = redis.call('ZCARD', K.serving)
  local ew = redis.call('HGET', K.stats, 'held_ewma') or ''
  local was_nd, was_nc, was_ns, was_ew
  if not FACT.ok then
    was_nd, was_nc, was_ns, was_ew = tonumber(C[3]), tonumber(C[4]), tonumber(C[5]), C[6]
  else -- FACT.ok: they were written with the facts
    was_nd, was_nc, was_ns, was_ew = FACT.next, FACT.called, FACT.serving, FACT.ewma
    if was_ew < 0 then was_ew = '' else was_ew = string.format('%.0f', was_ew) end
  end
  local changed = was_nd ~= nd or was_nc ~= nc or was_ns ~= ns or was_ew ~= ew
  if changed then
    redis.call('HSET', K.cfg, 'next', string.format('%.0f', nd), 'called', nc, 'serving', ns, 'held_ewma', ew)
  end
  return ew, ns, changed
end

local function next_deadline()
  local a = redis.call('ZRANGE', K.called, 0, 0, 'WITHSCORES')
  local b = redis.call('ZRANGE', K.serving, 0, 0, 'WITHSCORES')
  local n = 0
  if #a > 0 then n = tonumber(a[2]) end
  if #b > 0 and (n == 0 or tonumber(b[2]) < n) then n = tonumber(b[2]) end
  return n
end

-- Whether advance() would change anything at NOW: a viewing session or a
-- call whose time is up, or a free counter with a ticket waiting for it.
-- Also returns what it read on the way, which reply() needs too: the next
-- deadline, the number of called tickets and, from the facts, the held
-- time's average and the number serving. Until the script changes
-- anything, the facts are read (K.facts when current, else those in cfg); a
-- new or wiped line, or one kept by a release without them, has none, so
-- the line's sets are read instead.
local function due()
  local nd, nc, ns, ew, len
  if not dirty then
    if FACT.ok then
      nd, nc, ns, ew, len = FACT.next, FACT.called, FACT.serving, FACT.ewma, FACT.length
      if ew < 0 then ew = '' end
    else
      nd, nc, ns, ew = tonumber(C[3]), tonumber(C[4]), tonumber(C[5]), C[6]
    end
  end
  if not (nd and nc and ns) then nd, nc, ns, ew = next_deadline(), redis.call('ZCARD', K.called), nil, nil end
  if nd > 0 and nd <= NOW then return true, nd, nc, ew, ns end
  local free = CFG.counters - (ns or redis.call('ZCARD', K.serving)) - nc
  return free > 0 and (len or redis.call('ZCARD', K.line)) > nc, nd, nc, ew, ns
end

-- Bring the line up to NOW: end finished viewing sessions, expire no-shows,
-- call the next tickets. Idempotent: running it twice at one NOW changes
-- nothing the second time; when nothing is due it reads no more than due().
local function advance()
  if not due() then return end
  local done = redis.call('ZRANGEBYSCORE', K.serving, '-inf', NOW)
  for _, seq in ipairs(done) do
    end_session(seq, 'S')
  end
  local late = redis.call('ZRANGEBYSCORE', K.called, '-inf', NOW)
  for _, seq in ipairs(late) do
    redis.call('ZREM', K.called, seq)
    redis.call('ZREM', K.line, seq)
    freed(seq)
    finish(seq, 'expired')
  end
  call_next()
end

-- Take a waiting or called ticket out of the line. A waiting one is at or
-- after K.head, so it joins K.gone.
local function remove_from_line(seq, state)
  if state == 'waiting' then line_head() end -- rebuilt, if missing, while seq is in line
  redis.call('ZREM', K.line, seq)
  if state == 'waiting' then
    redis.call('ZADD', K.gone, seq, seq)
  elseif state == 'called' then
    redis.call('ZREM', K.called, seq)
    freed(seq)
  end
end

-- The line's own estimate of one ticket's share of the wait, in ms. ew is
-- the held time's average when the caller has read it ('' for none).
local function per_ticket(ew)
  ew = tonumber(ew or redis.call('HGET', K.stats, 'held_ewma')) or CFG.view
  return math.ceil(ew / CFG.counters)
end

-- catch_up brings the line up to NOW for an operation that only reads:
-- advance() when something is due, else nothing at all. It returns what
-- reply() may reuse (nil after an advance), so a read of a line with nothing
-- due costs a few reads and writes nothing. The table is the library's,
-- filled anew by every call that asks.
local KNOWN = {}
local function catch_up()
  local pending, nd, nc, ew, ns = due()
  if pending then
    advance()
    return nil
  end
  KNOWN.nd, KNOWN.nc, KNOWN.ew, KNOWN.ns, KNOWN.unchanged = nd, nc, ew, ns, nil
  return KNOWN
end

-- Remaining ban of client in ms, 0 when none. The ban's end is data; the
-- key's TTL only cleans up. With the facts current, a line whose latest
-- ban has ended has nobody to look up.
local function banned(client)
  if BAN_UNTIL and BAN_UNTIL <= NOW then return 0 end -- nobody is banned now
  local b = tonumber(redis.call('GET', bkey(client)))
  if b and b > NOW then return b - NOW end
  return 0
end

-- The state of ticket seq if nonce is the one it was issued with, else nil
-- (never issued at this seq, or its record is gone: purged after keep ms or
-- lost with the store).
local function lookup(seq, nonce)
  local h = redis.call('HMGET', tkey(seq), F.state, F.nonce)
  if not h[1] or h[2] ~= nonce then return nil end
  return h[1]
end

-- A ticket's place in line, 1 first, as ZRANK line seq + 1 would answer:
-- a called ticket counts the called tickets up to it (a few: one a
-- counter); a waiting one counts every called ticket, then the seqs from
-- K.head to its own but those in K.gone. On the embedded store that ZCOUNT
-- still sorts K.gone, the tickets that left the line from behind the head
-- (none, in a line nobody leaves); on Redis it is O(log n). Until the
-- script changes anything, K.head is the one begin read, and whether
-- K.gone has members comes from the facts when they are current: a
-- ticket joins K.gone only with a change (remove_from_line), which writes
-- the facts (line_head's rebuild only restores what a lost K.gone held);
-- leaving it unannounced (call_next walking the head past it) can only
-- make the count too high, which costs a ZCOUNT, not a wrong position.
local function position_of(seq, state, nc)
  if state == 'called' then
    local n = 0
    for _, s in ipairs(redis.call('ZRANGE', K.called, 0, -1)) do
      if tonumber(s) <= seq then n = n + 1 end
    end
    return n
  end
  local head, gone
  if HEAD and FACT.ok and not dirty then
    head, gone = tonumber(HEAD), FACT.gone > 0
  else
    head, gone = line_head(), redis.call('EXISTS', K.gone) == 1
  end
  local n = (nc or redis.call('ZCARD', K.called)) + seq - head + 1
  if gone then
    n = n - redis.call('ZCOUNT', K.gone, '-inf', seq)
  end
  return n
end

-- ticket_fields are the pairs that describe ticket seq, after code: its
-- seq, state, position (while in line), deadline (called) and until
-- (serving), the last two only when set (the decoder reads a missing
-- field as 0). h is its record as HMGET state, nonce, deadline, until
-- answers it, read here when nil, and nc the number of called tickets
-- when the caller has read them. line is nil, or reply()'s version, now,
-- called, share and next, which then come in the same list: one table
-- constructor, as tables that grow are slow in Lua.
local function ticket_fields(code, seq, h, nc, line)
  h = h or redis.call('HMGET', tkey(seq), F.state, F.nonce, F.deadline, F.ends)
  local n, state = tonumber(seq), h[1]
  local position = 0
  if state == 'waiting' or state == 'called' then
    position = position_of(n, state, nc)
  end
  local r
  if line then
    r = {'code', code, 'seq', n, 'state', state or '', 'position', position,
      'version', line[1], 'now', line[2], 'called', line[3], 'share', line[4], 'next', line[5]}
  else
    r = {'code', code, 'seq', n, 'state', state or '', 'position', position}
  end
  if h[3] then r[#r + 1], r[#r + 2] = 'deadline', tonumber(h[3]) end
  if h[4] then r[#r + 1], r[#r + 2] = 'until', tonumber(h[4]) end
  return r
end

-- write_facts stores K.facts for version v (see FACT): nd, nc, ew and ns as
-- reply() knows them (ns nil when unknown), the latest ban's end as the
-- call knows it, the rest read now.
local function write_facts(v, nd, nc, ew, ns)
  ns = ns or redis.call('ZCARD', K.serving)
  if not BAN_UNTIL then
    local last = redis.call('ZRANGE', K.bans, -1, -1, 'WITHSCORES')
    BAN_UNTIL = tonumber(last[2]) or 0
  end
  redis.call('SET', K.facts, pack_facts(v, nd, nc, ns, tonumber(ew) or -1, redis.call('ZCARD', K.gone),
    redis.call('ZCARD', K.line), BAN_UNTIL))
end

-- A client was banned until t (ban.lua): the facts' latest ban end.
local function banned_until(t)
  if BAN_UNTIL and BAN_UNTIL < t then BAN_UNTIL = t end
end

-- reply is every operation's answer, as field/value pairs:
--   code     what happened: 'ok' or the operation's refusal
--   version  the line's version after the operation
--   now      the line's clock, Unix ms
--   called   how many tickets are called
--   share    the line's estimate of one ticket's share of the wait, ms
--   next     the earliest deadline in the line, ms (0 = none)
-- and, unless seq is 0, ticket_fields of seq, then the pairs in fields.
-- It bumps the version and appends its entry to the change log when the
-- operation changed anything, and then writes the facts (write_facts), as
-- it does when they were not current. known is catch_up()'s answer, reused
-- when nothing changed since, or when known.unchanged says the changes
-- left it true; h is passed on to ticket_fields.
local LINE = {} -- reply's line-wide fields, handed to ticket_fields
local function reply(code, seq, fields, known, h)
  if dirty and not (known and known.unchanged) then known = nil end
  local nc, nd, ew, ns, changed
  if known then
    nc, nd, ew, ns = known.nc, known.nd, known.ew, known.ns
  else
    nc, nd = redis.call('ZCARD', K.called), next_deadline()
    ew, ns, changed = keep_facts(nc, nd)
  end
  -- Versions never go back, even when the store loses its data: a missing
  -- version starts at now in microseconds, above any version counted before
  -- (no store makes a change per microsecond). The line watchers saw is
  -- gone, so that is a change, logged with no previous version (a gap for
  -- every reader), and a log that outlived its version goes with it.
  local v = VER
  local prev = v
  if not v then
    v = NOW * 1000
    redis.call('SET', K.ver, string.format('%.0f', v))
    redis.call('DEL', K.log)
    prev = 0
    if LOG == NO_EVENTS then LOG = {} end
    table.insert(LOG, 1, 'W') -- the entry's first word: it explains the version
    dirty = true
  end
  -- Nor after a failover to a replica that lagged: a version below what a
  -- caller has already seen is lifted past it, and announced, since the
  -- line is not what watchers last saw; the entry's previous version is
  -- the lagging one, which no reader holds past the floor: a gap.
  local floor = tonumber(ARGV[10])
  if v < floor then
    redis.call('SET', K.ver, ARGV[10])
    if LOG == NO_EVENTS then LOG = {} end
    if LOG[1] == 'W' then table.insert(LOG, 2, 'V') else table.insert(LOG, 1, 'V') end
    dirty = true
  end
  if ew == nil then ew = redis.call('HGET', K.stats, 'held_ewma') or '' end
  local share = per_ticket(ew)
  if dirty then
    v = redis.call('INCR', K.ver)
    -- One entry per version, its id the version (XREAD from the version a
    -- reader holds); %.0f, not tostring: Lua prints a number above 1e14
    -- (the version is microseconds) in exponent form, which no reader
    -- can parse.
    local paused = 0
    if CFG.paused then paused = 1 end
    local entry = {'prev', string.format('%.0f', prev), 'now', string.format('%.0f', NOW),
      'next', string.format('%.0f', nd), 'share', share, 'counters', CFG.counters,
      'paused', paused, 'ev', table.concat(LOG, ' ')}
    if WHY ~= '' then
      entry[#entry + 1], entry[#entry + 2] = 'why', WHY
    end
    redis.call('XADD', K.log, 'MAXLEN', '~', ARGV[11], string.format('%.0f-0', v), unpack(entry))
  end
  if dirty or changed or not FACT.ok then write_facts(v, nd, nc, ew, ns) end
  local r
  if seq and seq ~= 0 then
    local line = LINE
    line[1], line[2], line[3], line[4], line[5] = v, NOW, nc, share, nd
    r = ticket_fields(code, seq, h, nc, line)
  else
    r = {'code', code, 'version', v, 'now', NOW, 'called', nc, 'share', share, 'next', nd}
  end
  if fields then
    local n = #r
    for i = 1, #fields do r[n + i] = fields[i] end
  end
  return r
end

-- The first steps of every operation a ticket's holder asks for: bring the
-- line up to now, refuse a banned client, and find the ticket. Returns the
-- ticket's state, or nil and the reply to answer at once.
local function holder(client, seq, nonce)
  advance()
  local ban = banned(client)
  if ban > 0 then return nil, reply('banned', 0, {'ban', ban}) end
  local state = lookup(seq, nonce)
  if not state then return nil, reply('unknown', 0) end
  return state
end
