//! A small load generator for a fuzzy storage (sluice's or Rspamd's fuzzy
//! worker): first adds HASHES hashes with shingles, then for SECONDS keeps
//! WINDOW shingles checks in flight (half of them for added hashes, half
//! for unknown ones) and reports the answers per second as one JSON line.
//!
//! `cargo run --release --example fuzzy_load -- ADDR SECONDS WINDOW HASHES [SETTLE [PUBKEY]]`
//!
//! SETTLE: seconds to wait between the adds and the checks (Rspamd's
//! storage applies adds at its next `sync`); `skip`: no adds (an earlier
//! run made them), so a measured run is checks only. PUBKEY: the storage's public
//! key (Rspamd base32): every datagram is then encrypted, from one client
//! keypair, as a `fuzzy_check` rule sends them.
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sluice_proto::fuzzy::{
    crypto, envelope, Command, Keypair, Op, Reply, SharedKey, DIGEST_LEN, SHINGLES,
};

fn digest(i: u64) -> [u8; DIGEST_LEN] {
    let mut d = [0u8; DIGEST_LEN];
    for (k, chunk) in d.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k as u64).to_le_bytes());
    }
    d
}

fn command(op: Op, i: u64, tag: u32) -> Command {
    let mut cmd = Command::new(op, digest(i));
    cmd.flag = 1;
    cmd.value = 1;
    cmd.tag = tag;
    cmd.shingles = Some(Box::new(std::array::from_fn::<u64, SHINGLES, _>(|k| {
        i.wrapping_mul(1_000_003).wrapping_add(k as u64)
    })));
    cmd
}

/// Plain, or sealed for one storage key from one client keypair.
struct Wire(Option<(Keypair, [u8; crypto::KEY_LEN], SharedKey)>);

impl Wire {
    fn new(pubkey: Option<&String>) -> Result<Self, Box<dyn std::error::Error>> {
        let Some(k) = pubkey else {
            return Ok(Wire(None));
        };
        let server = crypto::public_from_base32(k)?;
        let local = Keypair::generate()?;
        let shared = local.shared(&server)?;
        Ok(Wire(Some((local, server, shared))))
    }

    fn seal(&self, cmd: &Command) -> Vec<u8> {
        let plain = cmd.encode();
        match &self.0 {
            Some((local, server, shared)) => {
                envelope::seal_request_shared(server, local.public(), shared, &plain)
                    .unwrap_or(plain)
            }
            None => plain,
        }
    }

    fn open(&self, packet: &[u8]) -> Option<Reply> {
        match &self.0 {
            Some((_, _, shared)) => Reply::decode(&envelope::open_reply(shared, packet).ok()?).ok(),
            None => Reply::decode(packet).ok(),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(4..=6).contains(&args.len()) {
        return Err("usage: fuzzy_load ADDR SECONDS WINDOW HASHES [SETTLE [PUBKEY]]".into());
    }
    let settle: Option<f64> = match args.get(4).map(String::as_str) {
        Some("skip") => None,
        Some(s) => Some(s.parse()?),
        None => Some(0.0),
    };
    let wire = Wire::new(args.get(5))?;
    let seconds: f64 = args[1].parse()?;
    let window: usize = args[2].parse()?;
    let hashes: u64 = args[3].parse()?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(&args[0])?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = [0u8; 2048];

    // Adds, one at a time (each answered or retried).
    for i in (0..hashes).filter(|_| settle.is_some()) {
        let packet = wire.seal(&command(Op::Write, i, 0));
        for _ in 0..5 {
            sock.send(&packet)?;
            if sock.recv(&mut buf).is_ok() {
                break;
            }
        }
    }

    std::thread::sleep(Duration::from_secs_f64(settle.unwrap_or(0.0)));

    let (mut sent, mut answered, mut matched, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let mut in_flight = 0usize;
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        while in_flight < window {
            // Even: an added hash; odd: an unknown one.
            let i = if sent % 2 == 0 {
                sent / 2 % hashes.max(1)
            } else {
                u64::MAX - sent
            };
            sock.send(&wire.seal(&command(Op::Check, i, sent as u32)))?;
            sent += 1;
            in_flight += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                in_flight -= 1;
                answered += 1;
                if wire.open(&buf[..n]).is_some_and(|r| r.prob > 0.5) {
                    matched += 1;
                }
            }
            Err(_) => {
                // Nothing for 200 ms: count the window as lost and refill it.
                lost += in_flight as u64;
                in_flight = 0;
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "{{\"queries\": {answered}, \"seconds\": {took:.3}, \"qps\": {:.0}, \"matched\": {matched}, \"lost\": {lost}, \"window\": {window}}}",
        answered as f64 / took
    );
    Ok(())
}
