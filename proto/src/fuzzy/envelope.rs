//! The encrypted envelope around commands and replies
//! (`rspamd_fuzzy_encrypted_req_hdr` / `_rep_hdr`).
//!
//! ```text
//! request: magic "rsfe" | key_id [u8; 8] | pubkey [u8; 32] | nonce [u8; 24] | mac [u8; 16] | sealed command
//! reply:   nonce [u8; 24] | mac [u8; 16] | sealed reply
//! ```
//!
//! `key_id` is the first eight bytes of the storage's public key the
//! client used (so a storage with several keypairs can pick one; Rspamd's
//! storage falls back to its default keypair, the last one configured, for
//! an unknown id). `pubkey` is the client's own public key; both sides seal
//! with the shared key of the pair (see [`super::crypto`]).

use super::command::COMMAND_LEN;
use super::crypto::{random_nonce, CryptoError, Keypair, SharedKey, KEY_LEN, MAC_LEN, NONCE_LEN};

pub const MAGIC: [u8; 4] = *b"rsfe";
/// How many leading bytes of the storage's public key name it.
pub const KEY_ID_LEN: usize = 8;
pub const REQUEST_HEADER_LEN: usize = 4 + KEY_ID_LEN + KEY_LEN + NONCE_LEN + MAC_LEN;
pub const REPLY_HEADER_LEN: usize = NONCE_LEN + MAC_LEN;

/// A request's clear header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub key_id: [u8; KEY_ID_LEN],
    pub pubkey: [u8; KEY_LEN],
    pub nonce: [u8; NONCE_LEN],
    pub mac: [u8; MAC_LEN],
}

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("encrypted fuzzy packet truncated: {len} bytes, need {need}")]
    Truncated { len: usize, need: usize },
    #[error("encrypted fuzzy request without the \"rsfe\" magic")]
    NoMagic,
    #[error("encrypted fuzzy request, but no keypair is configured")]
    NoKeys,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Whether a datagram is an encrypted request, by Rspamd's test: long
/// enough for a header and a command, and starting with the magic.
#[must_use]
pub fn is_encrypted(packet: &[u8]) -> bool {
    packet.len() >= REQUEST_HEADER_LEN + COMMAND_LEN && packet.starts_with(&MAGIC)
}

/// The storage's key id: the first bytes of its public key.
#[must_use]
pub fn key_id(public: &[u8; KEY_LEN]) -> [u8; KEY_ID_LEN] {
    let mut id = [0; KEY_ID_LEN];
    id.copy_from_slice(&public[..KEY_ID_LEN]);
    id
}

impl RequestHeader {
    /// Splits an encrypted request into its header and sealed body.
    pub fn split(packet: &[u8]) -> Result<(Self, &[u8]), EnvelopeError> {
        if packet.len() < REQUEST_HEADER_LEN {
            return Err(EnvelopeError::Truncated {
                len: packet.len(),
                need: REQUEST_HEADER_LEN,
            });
        }
        if !packet.starts_with(&MAGIC) {
            return Err(EnvelopeError::NoMagic);
        }
        let (head, body) = packet.split_at(REQUEST_HEADER_LEN);
        let field = |from: usize, len: usize| &head[from..from + len];
        let header = Self {
            key_id: field(4, KEY_ID_LEN).try_into().unwrap_or_default(),
            pubkey: field(12, KEY_LEN).try_into().unwrap_or_default(),
            nonce: field(44, NONCE_LEN).try_into().unwrap_or_default(),
            mac: field(68, MAC_LEN).try_into().unwrap_or_default(),
        };
        Ok((header, body))
    }

    /// The keypair this request is for: the one whose id it names, else
    /// the default (the last configured), as Rspamd's storage picks.
    pub fn pick<'k>(&self, keys: &'k [Keypair]) -> Result<&'k Keypair, EnvelopeError> {
        keys.iter()
            .find(|k| key_id(k.public()) == self.key_id)
            .or_else(|| keys.last())
            .ok_or(EnvelopeError::NoKeys)
    }
}

/// An opened request: the command's bytes and the key to seal the reply.
#[derive(Debug)]
pub struct Opened {
    pub header: RequestHeader,
    pub plain: Vec<u8>,
    pub shared: SharedKey,
}

/// Opens an encrypted request with the storage's keypairs.
pub fn open_request(packet: &[u8], keys: &[Keypair]) -> Result<Opened, EnvelopeError> {
    open_request_with(packet, keys, Keypair::shared)
}

/// Opens an encrypted request, taking the shared key of the picked keypair
/// and the client's public key from `shared`: a storage passes a cache, as
/// the key exchange costs more than the rest of the request.
pub fn open_request_with(
    packet: &[u8],
    keys: &[Keypair],
    shared: impl FnOnce(&Keypair, &[u8; KEY_LEN]) -> Result<SharedKey, CryptoError>,
) -> Result<Opened, EnvelopeError> {
    let (header, body) = RequestHeader::split(packet)?;
    let shared = shared(header.pick(keys)?, &header.pubkey)?;
    let mut plain = body.to_vec();
    shared.open(&header.nonce, &header.mac, &mut plain)?;
    Ok(Opened {
        header,
        plain,
        shared,
    })
}

/// Seals a command for the storage whose public key is `server`, from the
/// client keypair `client` (Rspamd's client keeps one per rule).
pub fn seal_request(
    server: &[u8; KEY_LEN],
    client: &Keypair,
    command: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    seal_request_shared(server, client.public(), &client.shared(server)?, command)
}

/// [`seal_request`] with the pairing's shared key computed once: a client
/// that sends many commands to one storage derives it once, not per
/// datagram.
pub fn seal_request_shared(
    server: &[u8; KEY_LEN],
    client_public: &[u8; KEY_LEN],
    shared: &SharedKey,
    command: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let nonce = random_nonce()?;
    let mut body = command.to_vec();
    let mac = shared.seal(&nonce, &mut body);
    let mut out = Vec::with_capacity(REQUEST_HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&key_id(server));
    out.extend_from_slice(client_public);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&mac);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Seals a reply with a fresh nonce.
pub fn seal_reply(shared: &SharedKey, reply: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let nonce = random_nonce()?;
    let mut body = reply.to_vec();
    let mac = shared.seal(&nonce, &mut body);
    let mut out = Vec::with_capacity(REPLY_HEADER_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&mac);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a sealed reply, returning the reply's bytes.
pub fn open_reply(shared: &SharedKey, packet: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if packet.len() < REPLY_HEADER_LEN {
        return Err(EnvelopeError::Truncated {
            len: packet.len(),
            need: REPLY_HEADER_LEN,
        });
    }
    let (head, body) = packet.split_at(REPLY_HEADER_LEN);
    let nonce: [u8; NONCE_LEN] = head[..NONCE_LEN].try_into().unwrap_or_default();
    let mac: [u8; MAC_LEN] = head[NONCE_LEN..].try_into().unwrap_or_default();
    let mut plain = body.to_vec();
    shared.open(&nonce, &mac, &mut plain)?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzy::command::{Command, Op};
    use crate::fuzzy::reply::Reply;
    use crate::fuzzy::Epoch;

    #[test]
    fn request_round_trip_through_the_storage_keys() {
        let server = Keypair::generate().unwrap();
        let other = Keypair::generate().unwrap();
        let client = Keypair::generate().unwrap();
        let command = Command::new(Op::Check, [5; 64]).encode();
        let packet = seal_request(server.public(), &client, &command).unwrap();
        assert_eq!(packet.len(), REQUEST_HEADER_LEN + command.len());
        assert!(is_encrypted(&packet));
        // The server's key is first, the default (last) is another: the id picks.
        let keys = [server.clone(), other];
        let opened = open_request(&packet, &keys).unwrap();
        assert_eq!(opened.plain, command);
        assert_eq!(&opened.header.pubkey, client.public());

        let reply = Reply::status(0, 1).encode(Epoch::V11);
        let sealed = seal_reply(&opened.shared, &reply).unwrap();
        let back = open_reply(&client.shared(server.public()).unwrap(), &sealed).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn a_wrong_key_or_a_flipped_bit_fails_cleanly() {
        let server = Keypair::generate().unwrap();
        let client = Keypair::generate().unwrap();
        let command = Command::new(Op::Check, [5; 64]).encode();
        let packet = seal_request(server.public(), &client, &command).unwrap();
        let stranger = Keypair::generate().unwrap();
        assert_eq!(
            open_request(&packet, &[stranger]).unwrap_err(),
            EnvelopeError::Crypto(CryptoError::BadMac)
        );
        let mut flipped = packet.clone();
        *flipped.last_mut().unwrap() ^= 0x80;
        assert_eq!(
            open_request(&flipped, std::slice::from_ref(&server)).unwrap_err(),
            EnvelopeError::Crypto(CryptoError::BadMac)
        );
        assert_eq!(
            open_request(&packet, &[]).unwrap_err(),
            EnvelopeError::NoKeys
        );
        assert!(matches!(
            open_request(&packet[..50], &[server]),
            Err(EnvelopeError::Truncated { len: 50, .. })
        ));
    }

    #[test]
    fn plain_commands_are_not_taken_for_encrypted_ones() {
        let command = Command::new(Op::Check, [5; 64]).encode();
        assert!(!is_encrypted(&command));
        let mut short = MAGIC.to_vec();
        short.resize(REQUEST_HEADER_LEN + COMMAND_LEN - 1, 0);
        assert!(!is_encrypted(&short));
    }
}
