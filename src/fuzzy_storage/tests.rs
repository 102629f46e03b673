//! The storage over real UDP on loopback: what Rspamd's client does (plain
//! and encrypted), and what hostile senders do.
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use sluice_proto::fuzzy::{envelope, status, Command, Keypair, Op, Reply, SHINGLES};

use super::{launch, BackendSettings, Running, StorageSettings};

const WAIT: Duration = Duration::from_millis(300);

struct Fixture {
    _dir: tempfile::TempDir,
    running: Running,
    server_key: Keypair,
}

fn start(tune: impl FnOnce(&mut StorageSettings)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server_key = Keypair::generate().unwrap();
    let mut settings = StorageSettings {
        bind: vec!["127.0.0.1:0".parse().unwrap()],
        keypairs: vec![server_key.clone()],
        encrypted_only: false,
        allow_update: vec!["127.0.0.1/32".parse().unwrap()],
        read_only: false,
        expire: Duration::from_secs(3600),
        sync: Duration::from_secs(60),
        keypair_cache_size: 16,
        backend: BackendSettings::Embedded {
            path: dir.path().join("fuzzy.redb"),
        },
    };
    tune(&mut settings);
    let running = launch(settings).unwrap();
    Fixture {
        _dir: dir,
        running,
        server_key,
    }
}

impl Fixture {
    fn addr(&self) -> SocketAddr {
        self.running.local[0]
    }

    /// Sends `packet` from `from` and returns the answer, if any came.
    fn exchange_from(&self, from: &str, packet: &[u8]) -> Option<Vec<u8>> {
        let sock = UdpSocket::bind(from).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        sock.send_to(packet, self.addr()).unwrap();
        let mut buf = [0u8; 2048];
        sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    }

    fn ask(&self, cmd: &Command) -> Reply {
        let got = self
            .exchange_from("127.0.0.1:0", &cmd.encode())
            .expect("an answer");
        Reply::decode(&got).unwrap()
    }
}

fn command(op: Op, digest: u8, shingles: Option<&[u64; SHINGLES]>) -> Command {
    let mut cmd = Command::new(op, [digest; 64]);
    cmd.flag = 1;
    cmd.value = 10;
    cmd.tag = 4242;
    cmd.shingles = shingles.map(|s| Box::new(*s));
    cmd
}

fn shingles(base: u64) -> [u64; SHINGLES] {
    std::array::from_fn(|i| base + i as u64)
}

#[test]
fn add_check_a_changed_copy_and_delete() {
    let f = start(|_| {});
    let add = command(Op::Write, 1, Some(&shingles(100)));
    let r = f.ask(&add);
    assert_eq!((r.value, r.tag), (status::OK, 4242));
    assert!((r.prob - 1.0).abs() < f32::EPSILON);
    // Added twice: the weights add up.
    f.ask(&add);

    let exact = f.ask(&command(Op::Check, 1, Some(&shingles(100))));
    assert_eq!((exact.value, exact.flag), (20, 1));
    assert!((exact.prob - 1.0).abs() < f32::EPSILON);
    assert_eq!(exact.digest, [1; 64]);
    assert!(exact.ts > 0);

    // A copy with a changed word: another digest, three shingles differ.
    let mut near = shingles(100);
    near[0] = 9;
    near[10] = 99;
    near[20] = 999;
    let copy = f.ask(&command(Op::Check, 2, Some(&near)));
    assert_eq!((copy.value, copy.flag, copy.digest), (20, 1, [1; 64]));
    assert!(
        (copy.prob - 29.0 / 32.0).abs() < f32::EPSILON,
        "{}",
        copy.prob
    );

    let other = f.ask(&command(Op::Check, 3, Some(&shingles(5000))));
    assert_eq!((other.value, other.prob), (0, 0.0));

    let stat = f.ask(&command(Op::Stat, 0, None));
    assert_eq!(stat.flag, 1, "one hash stored");

    f.ask(&command(Op::Del, 1, Some(&shingles(100))));
    let gone = f.ask(&command(Op::Check, 2, Some(&near)));
    assert_eq!((gone.value, gone.prob), (0, 0.0));
}

#[test]
fn encrypted_requests_are_answered_sealed_and_replays_add_nothing() {
    let f = start(|_| {});
    let client = Keypair::generate().unwrap();
    let shared = client.shared(f.server_key.public()).unwrap();
    let add = command(Op::Write, 7, None);
    let sealed = envelope::seal_request(f.server_key.public(), &client, &add.encode()).unwrap();
    let first = f.exchange_from("127.0.0.1:0", &sealed).expect("an answer");
    let reply = Reply::decode(&envelope::open_reply(&shared, &first).unwrap()).unwrap();
    assert_eq!((reply.value, reply.tag), (status::OK, 4242));

    // The same datagram again: the first answer again, no second add.
    let again = f.exchange_from("127.0.0.1:0", &sealed).expect("an answer");
    assert_eq!(again, first);
    let check = envelope::seal_request(
        f.server_key.public(),
        &client,
        &command(Op::Check, 7, None).encode(),
    )
    .unwrap();
    let got = f.exchange_from("127.0.0.1:0", &check).unwrap();
    let found = Reply::decode(&envelope::open_reply(&shared, &got).unwrap()).unwrap();
    assert_eq!(found.value, 10, "the replay added nothing");
    // Three datagrams from one client: one key exchange.
    assert_eq!(f.running.storage.keys.derived(), 1);
    assert!(
        f.running
            .storage
            .counters
            .repeated
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn hostile_datagrams_are_dropped_and_the_storage_answers_on() {
    let f = start(|_| {});
    let good = command(Op::Check, 1, None).encode();
    let mut wrong_version = good.clone();
    wrong_version[0] = 9;
    let mut bad_mac =
        envelope::seal_request(f.server_key.public(), &Keypair::generate().unwrap(), &good)
            .unwrap();
    *bad_mac.last_mut().unwrap() ^= 1;
    let mut oversized = good.clone();
    oversized.resize(1500, b'4');
    let stranger = Keypair::generate().unwrap();
    let wrong_key = envelope::seal_request(stranger.public(), &stranger, &good).unwrap();
    for (what, packet) in [
        ("truncated", &good[..30]),
        ("empty", &good[..0]),
        ("wrong version", &wrong_version[..]),
        ("bad MAC", &bad_mac[..]),
        ("oversized", &oversized[..]),
        ("sealed for another key", &wrong_key[..]),
    ] {
        assert_eq!(f.exchange_from("127.0.0.1:0", packet), None, "{what}");
    }
    assert_eq!(
        f.ask(&command(Op::Check, 1, None)).value,
        0,
        "still answering"
    );
    assert!(
        f.running
            .storage
            .counters
            .invalid
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 6
    );
}

#[test]
fn updates_from_outside_allow_update_and_plain_under_encrypted_only_are_refused() {
    let f = start(|s| s.allow_update = vec!["127.0.0.2/32".parse().unwrap()]);
    let add = command(Op::Write, 1, None).encode();
    let refused = Reply::decode(&f.exchange_from("127.0.0.1:0", &add).unwrap()).unwrap();
    assert_eq!(refused.value, status::FORBIDDEN);
    let ok = Reply::decode(&f.exchange_from("127.0.0.2:0", &add).unwrap()).unwrap();
    assert_eq!(ok.value, status::OK);

    let f = start(|s| s.encrypted_only = true);
    assert_eq!(f.ask(&command(Op::Check, 1, None)).value, status::FORBIDDEN);
}

#[test]
fn legacy_clients_get_the_short_reply() {
    let f = start(|_| {});
    let mut cmd = command(Op::Check, 1, None);
    cmd.version = 3;
    let got = f.exchange_from("127.0.0.1:0", &cmd.encode()).unwrap();
    assert_eq!(got.len(), sluice_proto::fuzzy::reply::REPLY_V1_LEN);
}

#[test]
fn a_hit_renews_the_expiry_at_the_next_sync_and_metrics_count_it() {
    let f = start(|s| s.expire = Duration::from_secs(3));
    f.ask(&command(Op::Write, 1, Some(&shingles(100))));
    std::thread::sleep(Duration::from_millis(1500));
    let near = {
        let mut s = shingles(100);
        s[3] = 1;
        s
    };
    // Found by its shingles with 30/32 (> 0.9): renewed at the next sync.
    assert_eq!(f.ask(&command(Op::Check, 2, Some(&near))).value, 10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(f.running.storage.sync()).unwrap(), (1, 0));
    // Past the first expiry: still there, through the digest and the shingles.
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(f.ask(&command(Op::Check, 1, None)).value, 10);
    assert_eq!(f.ask(&command(Op::Check, 2, Some(&near))).value, 10);
    // Nothing queued since the last sync but these two hits.
    assert_eq!(rt.block_on(f.running.storage.sync()).unwrap().0, 1);

    f.exchange_from("127.0.0.1:0", b"junk");
    let mut text = String::new();
    super::metrics::render(&mut text, &f.running.storage.counters);
    for line in [
        "sluice_fuzzy_storage_requests_total{wire=\"plain\"} 4",
        "sluice_fuzzy_storage_requests_total{wire=\"encrypted\"} 0",
        "sluice_fuzzy_storage_checks_total 3",
        "sluice_fuzzy_storage_hits_total 3",
        "sluice_fuzzy_storage_adds_total 1",
        "sluice_fuzzy_storage_refreshes_total 2",
        "sluice_fuzzy_storage_errors_total{kind=\"invalid\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
