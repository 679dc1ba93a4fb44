-- admin_call_next.lua — call the next waiting ticket now. The line has
-- already called everyone it can (advance), so every counter is busy: the
-- viewing session that would end first ends now (served) to free its
-- counter. When every counter holds a call instead, nothing can be freed
-- without making someone a no-show: that is admin_skip's job, so this
-- refuses. Exactly one ticket is called, even on a line just shrunk below
-- its busy counters: the operator asked for it, and the busy count does
-- not grow.
-- ARGV[A]    why the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+1]  op  the operation id
-- Reply      ok (with the ticket whose session ended, if any);
--            nobody_waiting; counters_busy
local replay = admin_begin()
if replay then return replay end
local nc = redis.call('ZCARD', K.called)
if redis.call('ZCARD', K.line) <= nc then return admin_reply('nobody_waiting', 0) end
local ended = 0
if CFG.counters - redis.call('ZCARD', K.serving) - nc <= 0 then
  local first = redis.call('ZRANGE', K.serving, 0, 0)
  if #first == 0 then return admin_reply('counters_busy', 0) end
  ended = first[1]
  end_session(ended, 'e')
end
logged('n')
local counters = CFG.counters
CFG.counters = redis.call('ZCARD', K.serving) + redis.call('ZCARD', K.called) + 1
call_next()
CFG.counters = counters
return admin_reply('ok', ended)
