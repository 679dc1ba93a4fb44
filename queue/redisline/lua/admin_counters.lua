-- admin_counters.lua — set the number of counters for every replica, at
-- once (the cfg hash overrides their --counters). More counters call the
-- next tickets now. Fewer never end a session or withdraw a call: the line
-- simply calls nobody until fewer than the new number are busy.
-- ARGV[A]    n   the number of counters (the caller checks 1..1000)
-- ARGV[A+1]  why the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+2]  op  the operation id
-- Reply      ok
local n = tonumber(ARGV[A])
local replay = admin_begin()
if replay then return replay end
if n ~= CFG.counters then
  logged('N')
  dirty = true
end
redis.call('HSET', K.cfg, 'counters', ARGV[A])
CFG.counters = n
call_next()
return admin_reply('ok', 0)
