-- admin_pause.lua — pause ('1') or resume ('0') taking tickets, for every
-- replica: the cfg hash overrides their settings. The line still moves
-- while paused; only take refuses. Pausing twice changes nothing.
-- ARGV[A]    want  '1' to pause, '0' to resume
-- ARGV[A+1]  why   the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+2]  op    the operation id
-- Reply      ok
local want = ARGV[A] == '1'
local replay = admin_begin()
if replay then return replay end
if want ~= CFG.paused then
  if want then
    redis.call('HSET', K.cfg, 'paused', '1')
  else
    redis.call('HDEL', K.cfg, 'paused')
  end
  CFG.paused = want
  if want then logged('P') else logged('U') end
  dirty = true
end
return admin_reply('ok', 0)
