-- The fixed rule of the `lua_task` fuzz target. The fuzzer controls the
-- message and the arguments (the envelope's HELO, split at byte 31), never
-- this code: every task method and library function is called with those
-- arguments, each call under pcall so one refusal does not hide the rest.
local rspamd_regexp = require 'rspamd_regexp'
local rspamd_util = require 'rspamd_util'
local rspamd_logger = require 'rspamd_logger'
local lua_util = require 'lua_util'

local function split(s)
  local out = {}
  for piece in (s .. '\31'):gmatch('([^\31]*)\31') do
    out[#out + 1] = piece
  end
  return out
end

local function call(f, ...)
  local ok, a, b = pcall(f, ...)
  if ok then return a, b end
  return nil
end

local function each(list, fn)
  if type(list) ~= 'table' then return end
  for _, item in ipairs(list) do call(fn, item) end
end

rspamd_config:register_symbol{ name = 'FUZZ_INSERTED', type = 'virtual', score = 0.5 }

local function headers(task, arg)
  call(task.get_header, task, arg())
  call(task.get_header_raw, task, arg())
  call(task.get_header_count, task, arg())
  call(task.get_subject, task)
  call(task.get_message_id, task)
  call(task.get_raw_headers, task)
  each(call(task.get_header_full, task, arg()), function(h)
    return h.name, h.value, h.decoded, h.raw, h.order
  end)
end

local function envelope(task, arg)
  for _, which in ipairs({ 'smtp', 'mime', arg() }) do
    each(call(task.get_from, task, which), function(a) return a.addr, a.name end)
    each(call(task.get_recipients, task, which), function(a) return a.addr, a.domain end)
  end
  call(task.get_from, task)
  call(task.get_recipients, task)
  for _, m in ipairs({ 'get_from_ip', 'get_helo', 'get_hostname', 'get_user',
    'get_queue_id', 'get_size', 'has_urls', 'get_settings' }) do
    call(task[m], task)
  end
end

local function parts(task, arg)
  each(call(task.get_text_parts, task), function(p)
    p:get_content(); p:is_html(); p:get_length()
    p:get_words(arg()); p:get_words('raw'); p:get_words_count()
    p:get_stats(); p:get_language()
  end)
  each(call(task.get_parts, task), function(p)
    p:get_type(); p:get_type_full(); p:get_filename(); p:get_length(); p:get_cte()
    p:is_attachment(); p:is_multipart(); p:is_message(); p:is_text(); p:is_image()
  end)
  each(call(task.get_urls, task), function(u)
    u:get_host(); u:get_tld(); u:get_path(); u:get_text()
  end)
  each(call(task.get_emails, task), function(e)
    e:get_user(); e:get_host(); e:get_tld(); e:get_text()
  end)
  -- The raw part accessors, with indices from the input (0, negative, huge).
  local i = tonumber(arg()) or 1
  for _, m in ipairs({ '_part_content', '_part_words_count', '_part_stats', '_part_language' }) do
    call(task[m], task, i)
  end
  call(task._part_words, task, i, true)
end

local function results(task, arg)
  call(task.insert_result, task, 'FUZZ_INSERTED', tonumber(arg()) or 1, arg(), { arg(), arg() })
  call(task.insert_result, task, arg(), tonumber(arg()) or 1, arg())
  call(task.has_symbol, task, arg())
  call(task.has_symbol, task, 'FUZZ_INSERTED')
  call(task.get_symbol, task, arg())
  call(task.get_symbol, task, 'FUZZ_INSERTED')
  call(task.get_metric_score, task)
  call(task.set_pre_result, task, arg(), arg(), arg(), tonumber(arg()))
end

local function libraries(arg)
  local re = call(rspamd_regexp.create, arg())
  if re then
    call(re.match, re, arg()); call(re.search, re, arg()); call(re.get_pattern, re)
  end
  re = call(rspamd_regexp.create_cached, arg())
  if re then call(re.search, re, arg()) end
  for _, f in ipairs({ 'is_valid_utf8', 'strlen_utf8', 'lower_utf8', 'is_uppercase',
    'encode_base64', 'decode_base64', 'get_tld', 'parse_mail_address' }) do
    call(rspamd_util[f], arg())
  end
  call(rspamd_util.strequal_caseless, arg(), arg())
  call(rspamd_util.levenshtein_distance, arg(), arg())
  call(rspamd_util.get_time)
  call(lua_util.str_split, arg(), arg())
  call(lua_util.str_trim, arg())
  call(lua_util.str_startswith, arg(), arg())
  call(lua_util.str_endswith, arg(), arg())
  call(lua_util.template, arg(), { a = arg(), b = arg() })
  call(lua_util.round, tonumber(arg()) or 0, tonumber(arg()))
  call(rspamd_logger.slog, arg(), arg(), arg())
  call(rspamd_logger.infox, arg(), arg())
  call(rspamd_logger.debugm, arg(), arg(), arg())
end

rspamd_config:register_symbol{
  name = 'FUZZ_TASK_API',
  score = 0.1,
  callback = function(task)
    local args = split(task:get_helo() or '')
    local n = 0
    local function arg()
      n = n + 1
      return args[(n - 1) % #args + 1]
    end
    headers(task, arg)
    envelope(task, arg)
    parts(task, arg)
    libraries(arg)
    results(task, arg)
    return true, arg()
  end,
}
