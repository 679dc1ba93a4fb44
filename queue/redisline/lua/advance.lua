-- advance: bring the line up to now. Runs on every replica at each known
-- deadline and on a slow tick; idempotent.
advance()
return reply('ok', 0)
