-- sluice's C-stack guard. Runs once in every fresh state, after the standard
-- libraries and before the prelude and any rule file.
--
-- LuaJIT calls Lua from C without counting how deep it goes: a gsub callback
-- that calls gsub again, a sort comparator that sorts, a __tostring that
-- prints, a coroutine that resumes a new coroutine, each level eats the
-- native stack of the thread until the process dies. Every library function
-- that calls back into Lua is wrapped here so that such nesting ends with a
-- Lua error at a fixed depth. The originals stay in this chunk's upvalues,
-- out of reach of rules (there is no debug library).
--
-- Receives the depth limit; returns the function that resets the depth
-- (Rust calls it after a call that failed, since an error raised by the
-- budget hook can skip the decrements below).
local limit = ...
local depth = 0
local pcall, error = pcall, error

local function leave(ok, ...)
  depth = depth - 1
  if ok then
    return ...
  end
  error((...), 0)
end

local function guarded(f, name)
  return function(...)
    if depth >= limit then
      error(name .. ': Lua called back from C more than ' .. limit .. ' levels deep', 2)
    end
    depth = depth + 1
    return leave(pcall(f, ...))
  end
end

string.gsub = guarded(string.gsub, 'string.gsub')
string.format = guarded(string.format, 'string.format')
table.sort = guarded(table.sort, 'table.sort')
if print then
  print = guarded(print, 'print')
end

local resume = guarded(coroutine.resume, 'coroutine.resume')
coroutine.resume = resume
local create = coroutine.create

local function wrapped(ok, ...)
  if ok then
    return ...
  end
  error((...), 0)
end

-- coroutine.wrap on the guarded resume, so its calls count as well.
coroutine.wrap = function(f)
  local co = create(f)
  return function(...)
    return wrapped(resume(co, ...))
  end
end

-- xpcall in Lua: a handler runs once the error has unwound, never inside
-- the budget hook that raised it. LuaJIT runs the handler of an error raised
-- in a hook before leaving the hook, where no further hook fires, so a
-- handler that loops would run unbounded.
local function handled(h, ok, ...)
  if ok then
    return true, ...
  end
  local hok, v = pcall(h, (...))
  if hok then
    return false, v
  end
  return false, 'error in error handling'
end
xpcall = function(f, h, ...)
  return handled(h, pcall(f, ...))
end

-- LuaJIT's tostring hands a __tostring metamethod over as a tail call that
-- runs no VM instruction, so `__tostring = tostring` would loop where no
-- budget hook sees it. Through this Lua wrapper every turn executes
-- instructions, and the budget ends it.
local raw_tostring = tostring
tostring = function(...)
  return raw_tostring(...)
end

return function()
  depth = 0
end
