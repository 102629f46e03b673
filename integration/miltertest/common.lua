-- Helpers shared by the miltertest scripts. miltertest is run with
--   -D socket=inet:PORT@127.0.0.1 -D dir=<this directory> [-D prot=N]
-- Each script raises error() on the first broken expectation, so miltertest
-- exits non-zero and the shell driver counts a failure.

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

-- What Postfix offers (milter-protocol.md appendix A): version 6, every
-- action, every protocol bit up to and including HDR_LEADSPC.
OFFER_ACTIONS = 0x1ff
OFFER_PROT_ALL = 0x1fffff
LEADSPC = 0x100000
-- All SMFIP_NR_* bits (conn, helo, mail, rcpt, data, unknown, eoh, body, hdr).
NR_ALL = 0x1000 + 0x2000 + 0x4000 + 0x8000 + 0x10000 + 0x20000 + 0x40000 + 0x80000 + 0x80

function open(prot)
	local conn = mt.connect(socket, 50, 0.1)
	if conn == nil then
		error("mt.connect(" .. socket .. ") failed")
	end
	mt.set_timeout(30)
	-- Debian's miltertest writes its third argument into the packet's
	-- protocol field and its fourth into the actions field (checked with a
	-- listener that prints the O packet), so protocol comes first here.
	local err = mt.negotiate(conn, 6, prot or OFFER_PROT_ALL, OFFER_ACTIONS)
	if err ~= nil then
		error("mt.negotiate failed: " .. err)
	end
	return conn
end

-- expect_continue: after a step, the milter must answer CONTINUE unless it
-- negotiated the step's "no reply" flag, in which case miltertest reads
-- nothing (a stray reply would then surface at end-of-message).
function expect_continue(conn, what, err, nr_flag)
	if err ~= nil then
		error(what .. " failed: " .. err)
	end
	if nr_flag ~= nil and mt.test_option(conn, nr_flag) then
		return
	end
	local r = mt.getreply(conn)
	if r ~= SMFIR_CONTINUE then
		error(what .. ": expected SMFIR_CONTINUE, got " .. string.format("%q", string.char(r)))
	end
end

-- envelope: connect + helo + mail + rcpt the way Postfix's smtpd does it.
function envelope(conn, first)
	if first then
		mt.macro(conn, SMFIC_CONNECT, "j", "mx.it.test", "{daemon_name}", "mx.it.test",
			"{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11", "_", "localhost [127.0.0.1]")
		expect_continue(conn, "connect", mt.conninfo(conn, "localhost", "127.0.0.1"), SMFIP_NR_CONN)
		expect_continue(conn, "helo", mt.helo(conn, "client.it.test"), SMFIP_NR_HELO)
	end
	mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "sender@it.test", "{mail_mailer}", "smtp")
	expect_continue(conn, "mail", mt.mailfrom(conn, "<sender@it.test>"), SMFIP_NR_MAIL)
	mt.macro(conn, SMFIC_RCPT, "i", "4ITQUEUE01", "{rcpt_addr}", "rcpt@it.test", "{rcpt_mailer}", "smtp")
	expect_continue(conn, "rcpt", mt.rcptto(conn, "<rcpt@it.test>"), SMFIP_NR_RCPT)
end

-- headers: list of {name, value} pairs, sent as MTA header packets.
function headers(conn, list)
	for _, h in ipairs(list) do
		expect_continue(conn, "header " .. h[1], mt.header(conn, h[1], h[2]), SMFIP_NR_HDR)
	end
	expect_continue(conn, "eoh", mt.eoh(conn), SMFIP_NR_EOH)
end

function body(conn, text)
	expect_continue(conn, "body", mt.bodystring(conn, text), SMFIP_NR_BODY)
end

function clean_headers(extra)
	local list = {
		{ "Received", "from client.it.test (localhost [127.0.0.1])\n\tby mx.it.test (Postfix) with ESMTP id 4ITQUEUE01" },
		{ "From", "Alice Example <alice@it.test>" },
		{ "To", "Bob Example <bob@it.test>" },
		{ "Subject", "Minutes of the Tuesday meeting" },
		{ "Date", "Tue, 17 Nov 2026 10:00:00 +0000" },
		{ "Message-ID", "<20261117100000.1234@it.test>" },
		{ "MIME-Version", "1.0" },
		{ "Content-Type", "text/plain; charset=us-ascii" },
	}
	for _, h in ipairs(extra or {}) do
		table.insert(list, h)
	end
	return list
end

CLEAN_BODY = "Hello Bob,\r\n\r\nhere are the minutes of Tuesday's meeting. We agreed to move the\r\n" ..
	"review to Thursday and to keep the agenda short.\r\n\r\nRegards,\r\nAlice\r\n"

-- eom_final: send EOM and return the final reply code as a one-char string.
function eom_final(conn)
	local err = mt.eom(conn)
	if err ~= nil then
		error("eom failed: " .. err)
	end
	return string.char(mt.getreply(conn))
end

function expect_accepted(conn, what)
	local r = eom_final(conn)
	-- Accept and continue both let the MTA deliver at end-of-message.
	if r ~= string.char(SMFIR_ACCEPT) and r ~= string.char(SMFIR_CONTINUE) then
		error(what .. ": expected accept/continue at EOM, got " .. string.format("%q", r))
	end
	if not mt.eom_check(conn, MT_HDRADD, "X-Spamd-Result") then
		error(what .. ": X-Spamd-Result was not added")
	end
end

function expect_gtube_reject(conn, what)
	local r = eom_final(conn)
	if r ~= string.char(SMFIR_REPLYCODE) then
		error(what .. ": expected SMFIR_REPLYCODE at EOM, got " .. string.format("%q", r))
	end
	if not mt.eom_check(conn, MT_SMTPREPLY, "554", "5.7.1", "Gtube pattern") then
		error(what .. ": reply is not '554 5.7.1 Gtube pattern'")
	end
end

function ok(name)
	mt.echo("ok " .. name)
end

-- test: run a script body; miltertest exits 1 on an uncaught error but does
-- not print it, so print the reason first, then fail.
function test(name, fn)
	local good, err = pcall(fn)
	if not good then
		mt.echo("not ok " .. name .. ": " .. tostring(err))
		error(err)
	end
	ok(name)
end
