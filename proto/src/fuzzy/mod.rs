//! Rspamd's fuzzy storage protocol (UDP), as Rspamd 3.x's `fuzzy_check`
//! module and fuzzy storage worker speak it (`fuzzy_wire.h`).
//!
//! One datagram carries one [`Command`] (a 64-byte digest, optionally the 32
//! shingles of a text part) and is answered by one [`Reply`]. Either may be
//! wrapped in the encrypted [`envelope`] (curve25519 keys, XChaCha20 and
//! Poly1305, see [`crypto`]); keys are written in Rspamd's [`base32`].
//!
//! Decoding is by whole datagrams: sizes are checked before anything is
//! copied, and every malformed input is a typed error, never a panic.
pub mod base32;
pub mod command;
pub mod crypto;
pub mod envelope;
pub mod reply;

pub use command::{Command, CommandError, Epoch, Extension, Op, VERSION};
pub use crypto::{CryptoError, Keypair, SharedKey};
pub use envelope::EnvelopeError;
pub use reply::{status, Reply, ReplyError};

/// The digest size (BLAKE2b-512 in Rspamd).
pub const DIGEST_LEN: usize = 64;
/// How many shingles a text part's command carries.
pub const SHINGLES: usize = 32;
/// The largest datagram Rspamd's storage reads; longer ones are refused.
pub const MAX_PACKET: usize = 1024;

/// A datagram as a storage receives it, decoded: the command and, for an
/// encrypted one, the key its reply must be sealed with.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    pub shared: Option<SharedKey>,
    /// The encrypted request's nonce (a storage may refuse repeats).
    pub nonce: Option<[u8; crypto::NONCE_LEN]>,
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl Request {
    /// Decodes one datagram received by a storage holding `keys`.
    pub fn decode(packet: &[u8], keys: &[Keypair]) -> Result<Self, RequestError> {
        Self::decode_with(packet, keys, Keypair::shared)
    }

    /// [`Request::decode`], with the shared key of an encrypted request
    /// taken from `shared` (see [`envelope::open_request_with`]).
    pub fn decode_with(
        packet: &[u8],
        keys: &[Keypair],
        shared: impl FnOnce(&Keypair, &[u8; crypto::KEY_LEN]) -> Result<SharedKey, CryptoError>,
    ) -> Result<Self, RequestError> {
        if packet.len() > MAX_PACKET {
            return Err(CommandError::TooLarge {
                len: packet.len(),
                max: MAX_PACKET,
            }
            .into());
        }
        if envelope::is_encrypted(packet) {
            let opened = envelope::open_request_with(packet, keys, shared)?;
            let command = Command::decode(&opened.plain)?;
            return Ok(Self {
                command,
                shared: Some(opened.shared),
                nonce: Some(opened.header.nonce),
            });
        }
        Ok(Self {
            command: Command::decode(packet)?,
            shared: None,
            nonce: None,
        })
    }

    /// Encodes `reply` for this request's sender (short or full, sealed if
    /// the request was).
    pub fn answer(&self, reply: &Reply) -> Result<Vec<u8>, EnvelopeError> {
        let plain = reply.encode(self.command.epoch());
        match &self.shared {
            Some(shared) => envelope::seal_reply(shared, &plain),
            None => Ok(plain),
        }
    }
}
