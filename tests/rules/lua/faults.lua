-- Callbacks that fail at run time; each must lose only its own symbol.
rspamd_config:register_symbol{
  name = 'LUA_RAISES', score = 1,
  callback = function(task)
    task:insert_result('LUA_RAISES', 1, 'before-error')
    error('deliberate failure')
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_LOOPS', score = 1,
  callback = function(task)
    task:insert_result('LUA_LOOPS', 1)
    local n = 0
    while true do n = n + 1 end
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_MEMORY_BOMB', score = 1,
  callback = function()
    local t = {}
    for i = 1, 1e7 do t[i] = string.rep('x', 64) .. i end
    return true
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_HUGE_STRING', score = 1,
  callback = function()
    return #string.rep('x', 2 ^ 30) > 0
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_BAD_METHOD', score = 1,
  callback = function(task) return task:no_such_method() end,
}

rspamd_config:register_symbol{
  name = 'LUA_STILL_RUNS', score = 1,
  callback = function() return true, 'ok' end,
}
