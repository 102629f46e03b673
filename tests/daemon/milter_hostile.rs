//! Malformed and hostile milter input ends that session with one log line;
//! the daemon and every other session carry on.
use crate::support::daemon as common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{frame, optneg, Daemon};

/// Reads until EOF (or the timeout): what the daemon sent before closing.
fn read_to_close(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// A well-behaved negotiation still works: the daemon is alive and serving.
fn assert_serving(d: &Daemon) {
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(&optneg(6, 0x1ff, 0x1f_ffff)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[4], b'O', "negotiation reply");
}

fn hostile_case(input: &[u8], expect_in_log: &str) {
    let mut d = Daemon::start("");
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(input).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let reply = read_to_close(&mut s).expect("the daemon closes the session");
    let line = d.wait_log("milter session ended");
    assert!(
        line.contains(expect_in_log),
        "log line {line:?} lacks {expect_in_log:?}; sent back {reply:?}"
    );
    assert!(d.is_running());
    assert_serving(&d);
}

#[test]
fn zero_length_packet() {
    hostile_case(&[0, 0, 0, 0], "length 0");
}

#[test]
fn oversize_length_is_refused_before_allocation() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    input.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, b'B']);
    hostile_case(&input, "exceeds");
}

#[test]
fn unknown_command_byte() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    input.extend_from_slice(&frame(b'Z', b"junk"));
    hostile_case(&input, "bad packet");
}

#[test]
fn command_before_negotiation() {
    hostile_case(&frame(b'H', b"client.example\0"), "before negotiation");
}

#[test]
fn truncated_packet_then_eof() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    input.extend_from_slice(&[0, 0, 0, 50, b'H', b'a', b'b']);
    hostile_case(&input, "inside a milter packet");
}

#[test]
fn malformed_connect_payload() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    // Family '4' promises a port and an address that are not there.
    input.extend_from_slice(&frame(b'C', b"host\x004"));
    hostile_case(&input, "bad packet");
}

#[test]
fn content_without_mail_is_out_of_order() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    input.extend_from_slice(&frame(b'L', b"Subject\0hi\0"));
    hostile_case(&input, "outside a transaction");
}

#[test]
fn second_negotiation() {
    let mut input = optneg(6, 0x1ff, 0x1f_ffff);
    input.extend_from_slice(&optneg(6, 0x1ff, 0x1f_ffff));
    hostile_case(&input, "second option negotiation");
}

#[test]
fn slow_sender_is_cut_off() {
    let mut d = Daemon::start("timeout = 1s;\n");
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(&optneg(6, 0x1ff, 0x1f_ffff)).unwrap();
    // Half a packet, then silence.
    s.write_all(&[0, 0, 0, 20, b'H', b'x']).unwrap();
    let _ = read_to_close(&mut s);
    let line = d.wait_log("milter session ended");
    assert!(line.contains("slow sender"), "{line}");
    assert!(d.is_running());
}

#[test]
fn idle_session_times_out() {
    let d = Daemon::start("timeout = 1s;\n");
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.write_all(&optneg(6, 0x1ff, 0x1f_ffff)).unwrap();
    let _ = read_to_close(&mut s);
    let line = d.wait_log("milter session ended");
    assert!(line.contains("idle timeout"), "{line}");
}

#[test]
fn many_bad_sessions_do_not_disturb_a_good_one() {
    let d = Daemon::start("");
    let handles: Vec<_> = (0..32u8)
        .map(|i| {
            let addr = d.addr;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let junk: Vec<u8> = (0..64).map(|j| j ^ i.wrapping_mul(31)).collect();
                let _ = s.write_all(&junk);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let _ = read_to_close(&mut s);
            })
        })
        .collect();
    assert_serving(&d);
    for h in handles {
        h.join().unwrap();
    }
    assert_serving(&d);
}
