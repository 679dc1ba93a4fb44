-- admin_bans.lua — the clients banned now, the latest ban first (every ban
-- lasts the same, so the latest to end is the latest made), and how many.
-- ARGV[A]    limit  how many to list
-- Reply      ok, with total, clients {client, …} and ends {ms, …}
local limit = tonumber(ARGV[A])
advance()
redis.call('ZREMRANGEBYSCORE', K.bans, '-inf', NOW)
local list = redis.call('ZREVRANGE', K.bans, 0, limit - 1, 'WITHSCORES')
local clients, ends = {}, {}
for i = 1, #list, 2 do
  clients[#clients + 1] = list[i]
  ends[#ends + 1] = tonumber(list[i + 1])
end
return reply('ok', 0, {'total', redis.call('ZCARD', K.bans), 'clients', clients, 'ends', ends})
