-- sluice shipped Lua rules: MIME part and body checks.

-- An attachment with (next to) no text: "see attached" malware and
-- image spam.
rspamd_config:register_symbol{
  name = 'ATTACH_ONLY_NO_TEXT', score = 1.0, group = 'lua',
  description = 'Attachment with no text of its own',
  callback = function(task)
    local attached = false
    for _, p in ipairs(task:get_parts()) do
      if p:is_attachment() then
        attached = true
        break
      end
    end
    if not attached then return false end
    for _, p in ipairs(task:get_text_parts()) do
      if string.find(p:get_content(), '%w%w%w') then return false end
    end
    return true
  end,
}

-- A file name that hides its real extension: the right-to-left override
-- character, or a run of spaces before the extension.
rspamd_config:register_symbol{
  name = 'ATTACH_NAME_HIDDEN_EXT', score = 3.0, group = 'lua',
  description = 'Attachment name hides its extension (RTL override or padding)',
  callback = function(task)
    for _, p in ipairs(task:get_parts()) do
      local name = p:get_filename()
      if name and (string.find(name, '\226\128\174', 1, true) or string.find(name, '%s%s%s%s%s')) then
        return true, name
      end
    end
    return false
  end,
}

-- Shouting: a text part written mostly in capitals.
rspamd_config:register_symbol{
  name = 'BODY_SHOUTING', score = 1.5, group = 'lua',
  description = 'Text mostly in capital letters',
  callback = function(task)
    for _, p in ipairs(task:get_text_parts()) do
      local st = p:get_stats()
      if st.letters >= 100 and st.capital_letters * 4 >= st.letters * 3 then
        return true
      end
    end
    return false
  end,
}
