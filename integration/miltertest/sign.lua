-- An authenticated sender's mail (-D user=LOGIN, {auth_authen} with the MAIL
-- macros, as Postfix sends it) must come back with a DKIM-Signature inserted
-- at end-of-message. The message as the MTA would deliver it (signature on
-- top) is written to -D out=FILE for an independent verifier.
dofile(dir .. "/common.lua")
test("authenticated mail gets a DKIM-Signature inserted", function()
	local conn = open()
	mt.macro(conn, SMFIC_CONNECT, "j", "mx.it.test", "{daemon_name}", "mx.it.test",
		"{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11", "_", "client.example [198.51.100.20]")
	expect_continue(conn, "connect", mt.conninfo(conn, "client.example", "198.51.100.20"), SMFIP_NR_CONN)
	expect_continue(conn, "helo", mt.helo(conn, "client.example"), SMFIP_NR_HELO)
	mt.macro(conn, SMFIC_MAIL, "{mail_addr}", user, "{auth_authen}", user, "{auth_type}", "PLAIN")
	expect_continue(conn, "mail", mt.mailfrom(conn, "<" .. user .. ">"), SMFIP_NR_MAIL)
	mt.macro(conn, SMFIC_RCPT, "i", "4ITSIGN01", "{rcpt_addr}", "bob@remote.test")
	expect_continue(conn, "rcpt", mt.rcptto(conn, "<bob@remote.test>"), SMFIP_NR_RCPT)
	local list = {
		{ "From", "Alice <" .. user .. ">" },
		{ "To", "Bob <bob@remote.test>" },
		{ "Subject", "signed by the scanner" },
		{ "Date", "Tue, 17 Nov 2026 10:00:00 +0000" },
		{ "Message-ID", "<20261117100000.sign@it.test>" },
	}
	headers(conn, list)
	body(conn, CLEAN_BODY)
	local r = eom_final(conn)
	if r ~= string.char(SMFIR_ACCEPT) and r ~= string.char(SMFIR_CONTINUE) then
		error("expected accept/continue at EOM, got " .. string.format("%q", r))
	end
	if not mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then
		error("no DKIM-Signature inserted")
	end
	local sig = mt.getheader(conn, "DKIM-Signature", 0)
	if sig == nil then
		error("cannot read the inserted DKIM-Signature")
	end
	local f = assert(io.open(out, "wb"))
	f:write("DKIM-Signature: " .. sig:gsub("^%s+", ""):gsub("\r?\n", "\r\n") .. "\r\n")
	for _, h in ipairs(list) do
		f:write(h[1] .. ": " .. h[2] .. "\r\n")
	end
	f:write("\r\n" .. CLEAN_BODY)
	f:close()
	mt.disconnect(conn)
end)
