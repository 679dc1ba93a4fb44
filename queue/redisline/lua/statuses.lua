-- statuses.lua — many tickets' states and positions in one step, as
-- status.lua would answer each, after bringing the line up to now once
-- (catch_up). The live feed reads every watched ticket with it.
-- ARGV[A…]   triples: client, seq, nonce (at most StatusBatch of them)
-- Reply      ok, with tickets: one list of pairs per triple, in order:
--            code (ok, banned or unknown), ban (ms left) and, when ok,
--            the ticket's fields
local known = catch_up()
local tickets = {}
local bans = {} -- client → ms of ban left; a client may hold several tickets
for i = A, #ARGV, 3 do
  local client, seq, nonce = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ban = bans[client]
  if not ban then
    ban = banned(client)
    bans[client] = ban
  end
  local t
  if ban > 0 then
    t = {'code', 'banned', 'ban', ban}
  else
    local h = redis.call('HMGET', tkey(seq), F.state, F.nonce, F.deadline, F.ends)
    if not h[1] or h[2] ~= nonce then
      t = {'code', 'unknown'}
    else
      t = ticket_fields('ok', seq, h, known and known.nc)
    end
  end
  tickets[#tickets + 1] = t
end
return reply('ok', 0, {'tickets', tickets}, known)
