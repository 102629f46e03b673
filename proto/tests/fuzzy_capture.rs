//! Known-answer tests on datagrams captured from Rspamd 3.4's `fuzzy_check`
//! (`rspamc fuzzy_add -f 1 -w 10` through its controller, and a scan, of the
//! shared corpus' `ham/01379.eml`) with a UDP listener on loopback.

use sluice_proto::fuzzy::{base32, envelope, Command, Extension, Keypair, Op, Request, SHINGLES};

/// The storage keypair Rspamd's rule was configured with (`encryption_key`
/// is the public half), printed by `rspamadm keypair`.
const PRIVKEY: &str = "aadjrin691ibgxhpcpg7iyb854wkrtmw178jsgdoqec9d16hszwy";
const PUBKEY: &str = "tdya6yyj6k89ww8bnoeeth99chx181r9bmqo9qwjuffdsfcp1mny";

/// `fuzzy_add -f 1 -w 10`, encrypted to `PUBKEY`.
const ENCRYPTED_WRITE: &str = concat!(
    "727366657100ec01485e9d4fbf548bb243f46b4e54b1e1510b89fe3574f5a4e5d584f326a825b198d4f2dc25",
    "55cd15e7b585c8b6ad9eefb57907ef37a2f1636f7845fc2c8fe1ef60a640476dd3dae2eb1ea679df9fa1d1b9",
    "c0696523d29f02cc0b096db2f2ed381e9c63f764a5f37e332286be83ef2a85f86659b6538faf50fd0c07a984",
    "8f797eda6c0a50fa340805fa72ad557b0cb5fac7753110083b20a13aec66d13e251b17c459cda385495d096f",
    "75314208b53b5145f8f5bb8e2b4a516a7ef462a9292d0acf6aeea0f0c9edb824da48269bfe8c43e85c7ee31e",
    "ed00d024b721e7fbc5f4be06a0d150f7dcc3283d7f2c70c8ae23382b0b3bcb1e41cfca8224a6e5c061f0b5fb",
    "0484c5d8e323be74b59d7c02c01f0af056c5080d2b0471b61df57301df31fe67b37f1297c740477f7714e955",
    "ff2f400ce29626b3f77cacac706931e69dde66f9134e748739e599c133291a2b5dc26dfc45271768dcd3bd59",
    "bd812705b38ed1014dae29f76298aeaee3c83c3dbc0e12aabc556855ce04ce2f399b760b1251b706c36a581f",
    "aaf11b87054d6638c9746dfcfc93a4f376b1a53c368bc504c9e3a6e336730a09c11fe2d0834b559b37e02d",
);

/// The same `fuzzy_add`, unencrypted.
const PLAIN_WRITE: &str = concat!(
    "040120010a000000a3cc4da5abd98e088fa39863a226aee2817a110957a3609e3efacc50126ba9777543adc0",
    "fe4fe689ce3421f6244fb92af4feb58e310e55890373e924bdec3d073efebdc5322f7e3d2a311a0036cc33bc",
    "236f8d003cd91b9102ad4500ea91fa76220535001305dbea915115007d27121c3a71570063e08b1c42d31500",
    "61bcf1003ace0a00b61a22f8b6658e00cd2b74dd1c991e00bb7f0c8e92d7460037afb4c0b1b74f00e7fece2f",
    "9ea6270013a546fcc2a40101a1158b5f44140101e7c8dbfdba170e001dd0a33c4e851a008521a40826a28304",
    "02a459a660fabf003ef0f3ac797903000a46e74da61deb0041b35fdd19bb3b008e6cba782146af003a365d95",
    "5a9b0e0009165b66ca74020092b3d13f9e9c23000bd0846d32d401004ca5c7ed7af92500b3c708daa3f88d00",
    "4856f5b2c1f13f0077880d9ede94190016b941a08edd230064156e6577736c65747465722e6f6e6c696e652e",
    "636f6d",
);

/// A scan's check of the same message, unencrypted.
const PLAIN_CHECK: &str = concat!(
    "040020000000000042b59797abd98e088fa39863a226aee2817a110957a3609e3efacc50126ba9777543adc0",
    "fe4fe689ce3421f6244fb92af4feb58e310e55890373e924bdec3d073efebdc5322f7e3d2a311a0036cc33bc",
    "236f8d003cd91b9102ad4500ea91fa76220535001305dbea915115007d27121c3a71570063e08b1c42d31500",
    "61bcf1003ace0a00b61a22f8b6658e00cd2b74dd1c991e00bb7f0c8e92d7460037afb4c0b1b74f00e7fece2f",
    "9ea6270013a546fcc2a40101a1158b5f44140101e7c8dbfdba170e001dd0a33c4e851a008521a40826a28304",
    "02a459a660fabf003ef0f3ac797903000a46e74da61deb0041b35fdd19bb3b008e6cba782146af003a365d95",
    "5a9b0e0009165b66ca74020092b3d13f9e9c23000bd0846d32d401004ca5c7ed7af92500b3c708daa3f88d00",
    "4856f5b2c1f13f0077880d9ede94190016b941a08edd230064156e6577736c65747465722e6f6e6c696e652e",
    "636f6d34ce1001a1",
);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn server() -> Keypair {
    Keypair::from_base32(PRIVKEY, Some(PUBKEY)).unwrap()
}

#[test]
fn plain_write_decodes_with_its_shingles_and_source_domain() {
    let cmd = Command::decode(&unhex(PLAIN_WRITE)).unwrap();
    assert_eq!(cmd.version, 4);
    assert_eq!(cmd.op, Op::Write);
    assert_eq!((cmd.flag, cmd.value), (1, 10));
    let shingles = cmd
        .shingles
        .as_ref()
        .expect("a text part is sent with shingles");
    assert_eq!(shingles.len(), SHINGLES);
    assert!(shingles.iter().all(|&s| s != 0));
    assert_eq!(
        cmd.extensions,
        vec![Extension::SourceDomain(b"newsletter.online.com".to_vec())]
    );
    // Re-encoding gives Rspamd's bytes back.
    assert_eq!(cmd.encode(), unhex(PLAIN_WRITE));
}

#[test]
fn plain_check_names_the_same_digest_and_the_source_ip() {
    let check = Command::decode(&unhex(PLAIN_CHECK)).unwrap();
    let write = Command::decode(&unhex(PLAIN_WRITE)).unwrap();
    assert_eq!(check.op, Op::Check);
    assert_eq!(check.digest, write.digest);
    assert_eq!(check.shingles, write.shingles);
    assert!(matches!(check.extensions[1], Extension::SourceIp4(_)));
    assert_eq!(check.encode(), unhex(PLAIN_CHECK));
}

#[test]
fn encrypted_write_opens_with_the_storage_key() {
    let packet = unhex(ENCRYPTED_WRITE);
    assert!(envelope::is_encrypted(&packet));
    let (header, _) = envelope::RequestHeader::split(&packet).unwrap();
    let public: [u8; 32] = base32::decode_exact(PUBKEY).unwrap();
    // Rspamd's client names the key by the first 8 bytes of the public key.
    assert_eq!(header.key_id, envelope::key_id(&public));

    let request = Request::decode(&packet, &[server()]).unwrap();
    let cmd = &request.command;
    assert_eq!((cmd.op, cmd.flag, cmd.value), (Op::Write, 1, 10));
    let plain = Command::decode(&unhex(PLAIN_WRITE)).unwrap();
    assert_eq!(cmd.digest, plain.digest);
    assert_eq!(cmd.shingles, plain.shingles);
    assert!(request.shared.is_some());
}

#[test]
fn encrypted_write_fails_with_another_key_or_a_changed_byte() {
    let packet = unhex(ENCRYPTED_WRITE);
    let stranger = Keypair::generate().unwrap();
    assert!(Request::decode(&packet, &[stranger]).is_err());
    for at in [50, 70, 90, packet.len() - 1] {
        let mut bad = packet.clone();
        bad[at] ^= 0x01;
        assert!(Request::decode(&bad, &[server()]).is_err(), "byte {at}");
    }
}
