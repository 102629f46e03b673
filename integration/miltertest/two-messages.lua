-- One milter connection, several transactions, the way Postfix reuses it:
-- a message aborted half-way (RSET), a clean one, an abort after its EOM,
-- then a GTUBE one. Per-message state must not leak across the aborts.
dofile(dir .. "/common.lua")
test("two messages on one connection with aborts", function()
	local conn = open()
	envelope(conn, true)
	headers(conn, clean_headers({ { "X-Spam", "Yes" } }))
	mt.abort(conn)
	envelope(conn, false)
	headers(conn, clean_headers())
	body(conn, CLEAN_BODY)
	expect_accepted(conn, "first message")
	if mt.eom_check(conn, MT_HDRCHANGE, "X-Spam") then
		error("first message: X-Spam removal leaked from the aborted transaction")
	end
	mt.abort(conn)
	envelope(conn, false)
	headers(conn, clean_headers())
	body(conn, GTUBE .. "\r\n")
	expect_gtube_reject(conn, "second message")
	mt.abort(conn)
	mt.disconnect(conn)
end)
