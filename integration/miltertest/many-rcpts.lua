-- Mail to many recipients (-D rcpts=N, default 1000), as Postfix sends it:
-- one RCPT packet each. The message must be scanned and accepted, never
-- tempfailed (a scanner that refused the request for its size once made
-- every retry of such mail end in 451 until the MTA bounced it).
dofile(dir .. "/common.lua")
test("mail to " .. (rcpts or "1000") .. " recipients scanned and accepted", function()
	local n = tonumber(rcpts or "1000")
	local conn = open()
	mt.macro(conn, SMFIC_CONNECT, "j", "mx.it.test", "{daemon_name}", "mx.it.test",
		"{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11", "_", "localhost [127.0.0.1]")
	expect_continue(conn, "connect", mt.conninfo(conn, "localhost", "127.0.0.1"), SMFIP_NR_CONN)
	expect_continue(conn, "helo", mt.helo(conn, "client.it.test"), SMFIP_NR_HELO)
	mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "sender@it.test", "{mail_mailer}", "smtp")
	expect_continue(conn, "mail", mt.mailfrom(conn, "<sender@it.test>"), SMFIP_NR_MAIL)
	for i = 1, n do
		local addr = string.format("user%04d@it.test", i)
		mt.macro(conn, SMFIC_RCPT, "i", "4ITMANYRCPT", "{rcpt_addr}", addr, "{rcpt_mailer}", "smtp")
		expect_continue(conn, "rcpt " .. i, mt.rcptto(conn, "<" .. addr .. ">"), SMFIP_NR_RCPT)
	end
	headers(conn, clean_headers())
	body(conn, CLEAN_BODY)
	local r = eom_final(conn)
	if r ~= string.char(SMFIR_ACCEPT) and r ~= string.char(SMFIR_CONTINUE) then
		error("expected accept/continue at EOM, got " .. string.format("%q", r))
	end
	mt.disconnect(conn)
end)
