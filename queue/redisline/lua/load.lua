-- load.lua — one page of the line for a read model (queue.LinePage): the
-- line's small parts (calls, sessions, counters, pause) and, of the seqs
-- from the head to top, those that left the line while waiting (K.gone):
-- every other seq there is waiting. A long line is read in pages, each at
-- its own version; the reader then applies the change log (K.log) from
-- the first page's version. It only reads: the line is advanced first
-- only if something is due (catch_up).
-- ARGV[A]    after  the last seq the previous page covered (0 at first)
-- ARGV[A+1]  top    the first page's top (0 at first: this page's own)
-- ARGV[A+2]  limit  the most departed seqs to list
-- Reply      ok, with length (called + waiting), counters, paused (0/1),
--            head, top (the last seq issued), calls {seq, deadline, …},
--            serving {seq, until, …} and gone {seq, …} (after the cursor
--            and from the head on, up to top, at most limit, in order)
local known = catch_up()
local after, top, limit = tonumber(ARGV[A]), tonumber(ARGV[A + 1]), tonumber(ARGV[A + 2])
local last = tonumber(redis.call('GET', K.seq)) or 0
if top == 0 then top = last end
local h = line_head()
local gone = {}
local from = math.max(after + 1, h)
if from <= top then
  gone = redis.call('ZRANGEBYSCORE', K.gone, from, top, 'LIMIT', 0, limit)
end
local paused = 0
if CFG.paused then paused = 1 end
return reply('ok', 0, {
  'length', redis.call('ZCARD', K.line),
  'counters', CFG.counters,
  'paused', paused,
  'head', h,
  'top', last,
  'calls', redis.call('ZRANGE', K.called, 0, -1, 'WITHSCORES'),
  'serving', redis.call('ZRANGE', K.serving, 0, -1, 'WITHSCORES'),
  'gone', gone,
}, known)
