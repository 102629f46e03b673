-- MIME parts, words and languages, e-mails, pre-results, settings, and the
-- config-side API (add_composite, set_metric_symbol, config['regexp']);
-- each rule reports what it saw as options, which tests/lua_api.rs checks.
local rspamd_util = require "rspamd_util"
local lua_util = require "lua_util"

local function s(v) return tostring(v) end

rspamd_config.LUA_MIME = function(task)
  local out = {}
  for _, p in ipairs(task:get_parts()) do
    local t, sub = p:get_type()
    out[#out + 1] = t .. '/' .. sub .. ':' .. s(p:get_filename()) .. ':' .. s(p:get_length()) ..
      ':' .. s(p:is_attachment()) .. ':' .. s(p:is_multipart()) .. ':' .. s(p:is_text()) ..
      ':' .. s(p:get_cte())
  end
  return true, out
end

-- Before LUA_WORDS, so the word count is computed, not read off a cached list.
rspamd_config.LUA_STATS = function(task)
  local out = {}
  for i, p in ipairs(task:get_text_parts()) do
    local st = p:get_stats()
    out[#out + 1] = 'part' .. i .. '=' .. s(p:get_words_count()) .. ':' .. s(st.letters) .. ':' ..
      s(st.capital_letters) .. ':' .. s(st.spaces) .. ':' .. s(st.non_ascii_characters) .. ':' ..
      s(st.lines) .. ':' .. s(p:get_length())
  end
  return true, out
end

rspamd_config.LUA_WORDS = function(task)
  local out = {}
  for i, p in ipairs(task:get_text_parts()) do
    local w = p:get_words()
    local raw = p:get_words('raw')
    out[#out + 1] = 'part' .. i .. '=' .. s(p:get_language()) .. ':' .. s(#w) .. ':' ..
      s(w[1]) .. ':' .. s(raw[1]) .. ':' .. s(p:get_words() == w) .. ':' .. s(p:get_words_count())
  end
  return true, out
end

rspamd_config.LUA_EMAILS = function(task)
  local out = {}
  for _, e in ipairs(task:get_emails()) do
    out[#out + 1] = e:get_user() .. '@' .. e:get_host() .. ':' .. e:get_tld() .. ':' .. e:get_text()
  end
  return #out > 0, out
end

rspamd_config.LUA_SETTINGS = function(task)
  return true, 'settings=' .. s(task:get_settings())
end

-- A prefilter that forces an action when the message asks for it.
rspamd_config:register_symbol{
  name = 'LUA_FORCE', type = 'prefilter', score = 0, priority = 10,
  callback = function(task)
    local want = task:get_header('X-Force')
    if not want then return false end
    if want == 'bogus' then
      task:set_pre_result('no such action', 'never')
    end
    task:set_pre_result(want, 'forced by lua', 'lua_test')
    return true
  end,
}
rspamd_config:register_symbol{
  name = 'LUA_AFTER_FORCE', score = 0.1,
  callback = function() return true end,
}
rspamd_config:register_symbol{
  name = 'LUA_POST_FORCE', score = 0, type = 'postfilter',
  callback = function() return true end,
}

-- Composites and weights from Lua.
rspamd_config:register_symbol{ name = 'LUA_A', score = 1, callback = function() return true end }
rspamd_config:register_symbol{ name = 'LUA_B', score = 1, callback = function() return true end }
rspamd_config:add_composite('LUA_COMP', 'LUA_A & LUA_B')
rspamd_config:set_metric_symbol('LUA_COMP', 3.5, 'composite from lua')
rspamd_config:set_metric_symbol{ name = 'LUA_OVERRIDDEN', score = 9, description = 'from lua' }
rspamd_config.LUA_OVERRIDDEN = function() return true end

config['regexp']['LUA_RE'] = { re = 'Subject=/invoice/i', score = 2, description = 'regexp from lua' }
config['regexp']['LUA_RE_WEIGHT'] = { re = 'Subject=/invoice/i', score = 2 }
rspamd_config:set_metric_symbol{ name = 'LUA_RE_WEIGHT', score = 4 }

rspamd_config.LUA_UTIL_MORE = function()
  local t = { a = 1, b = { c = 2 } }
  local deep = lua_util.deepcopy(t)
  local addr = rspamd_util.parse_mail_address('"Bob B" <Bob@Example.COM>, x@y.org')
  return true,
    'b64=' .. rspamd_util.encode_base64('sluice') .. ':' .. rspamd_util.decode_base64('c2x1aWNl'),
    'lev=' .. s(rspamd_util.levenshtein_distance('kitten', 'sitting')),
    'upper=' .. s(rspamd_util.is_uppercase('FREE!')) .. ':' .. s(rspamd_util.is_uppercase('Free')),
    'utf8=' .. s(rspamd_util.strlen_utf8('héllo')) .. ':' .. rspamd_util.lower_utf8('ÀB'),
    'tld=' .. rspamd_util.get_tld('mail.Shop.Example.com'),
    'addr=' .. s(#addr) .. ':' .. addr[1].name .. ':' .. addr[1].domain .. ':' .. addr[2].addr,
    'nkeys=' .. s(lua_util.nkeys(t)) .. ':' .. s(#lua_util.values({ x = 1, y = 2 })),
    'deep=' .. s(deep.b ~= t.b and deep.b.c == 2) .. ':' .. s(lua_util.shallowcopy(t).b == t.b),
    'tpl=' .. lua_util.template('hi $name, ${n}x', { name = 'bob', n = 3 })
end
