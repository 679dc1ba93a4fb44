-- advance.lua — bring the line up to now. Every replica runs it at each
-- known deadline and on a slow tick; idempotent.
-- Reply      ok
advance()
return reply('ok', 0)
