-- sluice shipped Lua rules: URL checks.

-- An internationalised (punycode) host: look-alike domains hide there.
rspamd_config:register_symbol{
  name = 'URL_PUNYCODE', score = 1.5, group = 'lua',
  description = 'URL host has a punycode (xn--) label',
  callback = function(task)
    for _, u in ipairs(task:get_urls()) do
      -- The text check is cheap; only candidates are split into pieces.
      if string.find(u:get_text(), 'xn--', 1, true) then
        local host = u:get_host()
        if string.find(host, 'xn--', 1, true) then
          return true, host
        end
      end
    end
    return false
  end,
}

-- Almost no text around a link: "click here" mail.
rspamd_config:register_symbol{
  name = 'SHORT_TEXT_WITH_URL', score = 1.5, group = 'lua',
  description = 'A URL with fewer than twelve words of text',
  callback = function(task)
    if not task:has_urls() then return false end
    local words = 0
    for _, p in ipairs(task:get_text_parts()) do
      -- Long parts cannot be short: skip building their word lists.
      if p:get_length() > 600 then return false end
      words = math.max(words, p:get_words_count())
    end
    return words < 12, tostring(words)
  end,
}
