# shellcheck shell=bash
# Rspamd 3.4 with a fuzzy storage worker on a private redis-server, for the
# fuzzy stages. Sourced after lib.sh; needs IT_WORK (make_workdir).
#
# start_fuzzy_rspamd ALGORITHM [ENCRYPT]: Hyperscan off unless
# FUZZY_HYPERSCAN=1; sets RSPAMD_NORMAL, RSPAMD_CONTROLLER
# (host:port), FUZZY_PORT, REDIS_PORT, RSPAMD_PID and, with ENCRYPT=1,
# FUZZY_PUBKEY (the storage's public key, base32) and FUZZY_PRIVKEY.

start_fuzzy_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$IT_WORK" >"$IT_WORK/redis.log" 2>&1 &
    local pid=$!
    on_exit "kill -TERM $pid; wait $pid"
    wait_for_port "$REDIS_PORT" 20 || die "redis-server did not listen: $(tail -3 "$IT_WORK/redis.log")"
}

start_fuzzy_rspamd() {
    local algorithm=$1 encrypt=${2:-0} dir=$IT_WORK/rspamd keypair='' enckey='' no_hs=true
    [ "${FUZZY_HYPERSCAN:-0}" = 1 ] && no_hs=false
    require_tools rspamd rspamc rspamadm redis-server python3
    start_fuzzy_redis
    local normal controller
    normal=$(free_port)
    controller=$(free_port)
    # UDP: a TCP port free now is a fair guess for the same UDP number.
    FUZZY_PORT=$(free_port)
    mkdir -p "$dir/local.d" "$dir/override.d"
    cp "$IT_DIR"/rspamd/local.d/*.conf "$IT_DIR"/rspamd/local.d/*.inc "$dir/local.d/"
    rm -f "$dir/local.d/fuzzy_check.conf"
    # The tree's options leave the C module fuzzy_check out of `filters`.
    sed -i 's/^filters = "\(.*\)";/filters = "\1,fuzzy_check";/' "$dir/local.d/options.inc"
    if [ "$encrypt" = 1 ]; then
        local kp
        kp=$(rspamadm keypair -u)
        FUZZY_PUBKEY=$(sed -n 's/^ *pubkey = "\(.*\)";/\1/p' <<<"$kp")
        FUZZY_PRIVKEY=$(sed -n 's/^ *privkey = "\(.*\)";/\1/p' <<<"$kp")
        keypair="keypair { pubkey = \"$FUZZY_PUBKEY\"; privkey = \"$FUZZY_PRIVKEY\"; }"
        enckey="encryption_key = \"$FUZZY_PUBKEY\";"
    fi
    sed -e "s/@NORMAL_PORT@/$normal/" -e "s/@CONTROLLER_PORT@/$controller/" \
        -e "s/@FUZZY_PORT@/$FUZZY_PORT/" -e "s/@REDIS_PORT@/$REDIS_PORT/" \
        -e "s|@FUZZY_KEYPAIR@|$keypair|" -e "s/@NO_HYPERSCAN@/$no_hs/" \
        "$IT_DIR/fuzzy/rspamd.conf.in" >"$dir/rspamd.conf"
    sed -e "s/@ALGORITHM@/$algorithm/" -e "s/@FUZZY_PORT@/$FUZZY_PORT/" \
        -e "s|@ENCRYPTION_KEY@|$enckey|" \
        "$IT_DIR/fuzzy/fuzzy_check.conf.in" >"$dir/override.d/fuzzy_check.conf"
    chown -R _rspamd:_rspamd "$dir"
    rspamd -f -u _rspamd -g _rspamd -c "$dir/rspamd.conf" \
        --var="LOCAL_CONFDIR=$dir" --var="DBDIR=$dir" --var="RUNDIR=$dir" \
        --var="LOGDIR=$dir" >"$dir/stdout" 2>&1 &
    RSPAMD_PID=$!
    on_exit "kill -TERM $RSPAMD_PID; wait $RSPAMD_PID"
    wait_for_port "$controller" 120 || die "rspamd did not listen: $(tail -5 "$dir/rspamd.log")"
    wait_for_port "$normal" 60 || die "rspamd's scanner did not listen: $(tail -5 "$dir/rspamd.log")"
    RSPAMD_NORMAL=127.0.0.1:$normal
    RSPAMD_CONTROLLER=127.0.0.1:$controller
    RSPAMD_LOG=$dir/rspamd.log
    note "rspamd pid $RSPAMD_PID: scan $RSPAMD_NORMAL, controller $RSPAMD_CONTROLLER, fuzzy udp $FUZZY_PORT, redis $REDIS_PORT"
}
