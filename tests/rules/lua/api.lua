-- Every task method and library function of the supported API; each rule
-- reports what it saw as options, which the test checks.
local rspamd_regexp = require "rspamd_regexp"
local rspamd_logger = require "rspamd_logger"
local lua_util = require "lua_util"
local rspamd_util = require "rspamd_util"

local function s(v) return tostring(v) end

rspamd_config:register_symbol{
  name = 'LUA_HEADERS', score = 1.5, description = 'header methods', group = 'luatest',
  callback = function(task)
    local full = task:get_header_full('Received')
    return true,
      'subject=' .. s(task:get_subject()),
      'header=' .. s(task:get_header('subject')),
      'missing=' .. s(task:get_header('X-Missing')),
      'count=' .. s(task:get_header_count('Received')),
      'full=' .. s(#full) .. ':' .. full[2].decoded,
      'fullname=' .. full[1].name,
      'raw=' .. s(string.find(task:get_raw_headers(), 'Message-ID: <id.7@example.org>', 1, true) ~= nil),
      'msgid=' .. s(task:get_message_id())
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_ENVELOPE', score = 1, type = 'normal',
  callback = function(task)
    local rcpt_smtp = task:get_recipients('smtp')
    local rcpt_mime = task:get_recipients('mime')
    return true,
      'ip=' .. s(task:get_from_ip()),
      'helo=' .. s(task:get_helo()),
      'hostname=' .. s(task:get_hostname()),
      'user=' .. s(task:get_user()),
      'qid=' .. s(task:get_queue_id()),
      'from_smtp=' .. task:get_from('smtp')[1].addr,
      'from_mime=' .. task:get_from('mime')[1].addr,
      'from_domain=' .. task:get_from()[1].domain,
      'rcpt_smtp=' .. s(#rcpt_smtp) .. ':' .. rcpt_smtp[1].user,
      'rcpt_mime=' .. s(#rcpt_mime) .. ':' .. rcpt_mime[2].addr,
      'names=' .. task:get_from('mime')[1].name .. ':' .. rcpt_mime[2].name .. ':' .. task:get_from('smtp')[1].name
  end,
}

rspamd_config.LUA_PARTS = {
  score = 0.5, description = 'text parts', group = 'luatest',
  callback = function(task)
    local parts = task:get_text_parts()
    local out = { 'n=' .. s(#parts) }
    for i, p in ipairs(parts) do
      out[#out + 1] = 'part' .. i .. '=' .. s(p:is_html()) .. ':' ..
        s(string.find(p:get_content(), 'hello world', 1, true) ~= nil)
    end
    return true, out[1], out[2], out[3]
  end,
}

rspamd_config.LUA_URLS = function(task)
  local u = task:get_urls()[1]
  if not u then return false end
  return true, 'host=' .. u:get_host(), 'tld=' .. u:get_tld(), 'path=' .. u:get_path(),
    'size=' .. s(task:get_size() > 100)
end

rspamd_config:register_symbol{
  name = 'LUA_REGEXP', score = 2,
  callback = function(task)
    local re = rspamd_regexp.create_cached('/cheap\\s+pills/i')
    local again = rspamd_regexp.create_cached('/cheap\\s+pills/i')
    local found = re:search(task:get_subject())
    return re:match(task:get_subject()), 'cached=' .. s(re == again),
      'search=' .. s(found and found[1]),
      'bad=' .. s(rspamd_regexp.create_cached('/(unclosed/')),
      'nomatch=' .. s(rspamd_regexp.create_cached('zzz'):match('abc'))
  end,
}

rspamd_config:register_symbol{ name = 'LUA_VIRTUAL', score = 2, type = 'virtual' }

rspamd_config:register_symbol{
  name = 'LUA_INSERT', score = 0, type = 'callback',
  callback = function(task)
    task:insert_result('LUA_VIRTUAL', 0.5, 'a', 'b')
    task:insert_result('LUA_UNKNOWN', 1)
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_POST', score = 0.1, type = 'postfilter',
  callback = function(task)
    local ms = task:get_metric_score()
    local sym = task:get_symbol('LUA_VIRTUAL')
    return true,
      'has=' .. s(task:has_symbol('LUA_VIRTUAL')),
      'hasnot=' .. s(task:has_symbol('LUA_NEVER')),
      'score=' .. s(ms[1] > 5),
      'required=' .. s(ms[2]),
      'sym=' .. s(sym[1].score) .. ':' .. table.concat(sym[1].options, ',')
  end,
}

rspamd_config:register_symbol{ name = 'LUA_NEVER', score = 1, callback = function() return false end }

rspamd_config:register_symbol{
  name = 'LUA_PRE', score = 0.25, type = 'prefilter',
  callback = function(task)
    -- Prefilters run first: no other Lua symbol is on the board yet.
    return true, 'first=' .. s(not task:has_symbol('LUA_HEADERS'))
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_WEIGHT', score = 4,
  callback = function() return 0.25, 'dynamic' end,
}

rspamd_config:register_symbol{
  name = 'LUA_LIBS', score = 0,
  callback = function(task)
    rspamd_logger.infox(task, 'subject %s of %1', task:get_subject(), task:get_queue_id())
    rspamd_logger.errx(rspamd_config, 'not an error %s', 1)
    return true,
      'slog=' .. rspamd_logger.slog('%s-%2-%1-%%', 'x', 'y'),
      'split=' .. table.concat(lua_util.str_split('a,b,,c', ','), '|'),
      'trim=' .. lua_util.str_trim('  t  '),
      'starts=' .. s(lua_util.str_startswith('prefix', 'pre')),
      'time=' .. s(rspamd_util.get_time() > 1e9),
      'caseless=' .. s(rspamd_util.strequal_caseless('AbC', 'aBc'))
  end,
}

rspamd_config:register_symbol{
  name = 'LUA_SANDBOX', score = 0,
  callback = function()
    local req_ok = pcall(require, 'socket')
    return true,
      'io=' .. type(io), 'execute=' .. type(os.execute), 'load=' .. type(load),
      'loadstring=' .. type(loadstring), 'dofile=' .. type(dofile),
      'debug=' .. type(debug), 'package=' .. type(package), 'require_c=' .. s(req_ok),
      'jit=' .. type(jit), 'ostime=' .. type(os.time)
  end,
}
