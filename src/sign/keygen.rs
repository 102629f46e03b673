//! `sluice dkim-keygen`: a new key pair, the private key as PEM (written
//! to a file with mode 0600, or printed), and the DNS TXT record in the
//! form `rspamadm dkim_keygen` prints, so the two tools are swappable.
use std::io::Write;
use std::path::Path;

use mail_auth::dkim::generate::DkimKeyPair;

/// Key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

/// RSA sizes accepted: RFC 8301 forbids less than 1024 bits; past 4096 a
/// TXT record gets unwieldy and signing slow.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 1024..=4096;

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("RSA key size {0} is outside {min}..={max} bits", min = RSA_BITS.start(), max = RSA_BITS.end())]
    Bits(usize),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A generated key: the private key as PEM and the public key as the
/// base64 of the `p=` tag.
#[derive(Debug)]
pub struct Generated {
    pub private_pem: String,
    pub public_b64: String,
    pub key_type: KeyType,
}

/// Generates a key pair. RSA private keys are PKCS#8 and public keys
/// SubjectPublicKeyInfo (what rspamadm writes and publishes); Ed25519
/// private keys are PKCS#8 and the public key the raw 32 bytes (RFC 8463).
pub fn generate(key_type: KeyType, bits: usize) -> Result<Generated, KeygenError> {
    let gen_err = |e: mail_auth::Error| KeygenError::Generate(e.to_string());
    let (private_der, public) = match key_type {
        KeyType::Rsa => {
            if !RSA_BITS.contains(&bits) {
                return Err(KeygenError::Bits(bits));
            }
            let pair = DkimKeyPair::generate_rsa(bits).map_err(gen_err)?;
            (
                der::rsa_pkcs8(pair.private_key()),
                der::rsa_spki(pair.public_key()),
            )
        }
        KeyType::Ed25519 => {
            let pair = DkimKeyPair::generate_ed25519().map_err(gen_err)?;
            (pair.private_key().to_vec(), pair.public_key().to_vec())
        }
    };
    Ok(Generated {
        private_pem: pem("PRIVATE KEY", &private_der),
        public_b64: base64(&public),
        key_type,
    })
}

/// The zone-file record, split into strings as rspamadm splits it.
pub fn txt_record(selector: &str, g: &Generated) -> String {
    let k = match g.key_type {
        KeyType::Rsa => "rsa",
        KeyType::Ed25519 => "ed25519",
    };
    let mut out = format!("{selector}._domainkey IN TXT ( \"v=DKIM1; k={k}; \"\n");
    let p = format!("p={}", g.public_b64);
    // A TXT string holds at most 255 bytes.
    let chunks: Vec<&str> = p
        .as_bytes()
        .chunks(255)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    if chunks.len() == 1 {
        out.push_str(&format!("\t\"{}\" ) ;\n", chunks[0]));
    } else {
        for c in &chunks {
            out.push_str(&format!("\t\"{c}\"\n"));
        }
        out.push_str(") ; \n");
    }
    out
}

/// Writes `pem` to `path`, created with mode 0600 (never readable by
/// others, not even for a moment); an existing file is replaced.
pub fn write_private(path: &Path, pem: &str) -> Result<(), KeygenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let werr = |source| KeygenError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(werr)?;
    // An existing file keeps its mode through open: set it.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(werr)?;
    f.write_all(pem.as_bytes()).map_err(werr)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The two DER wrappings an RSA key needs beyond mail-auth's PKCS#1.
mod der {
    /// `rsaEncryption` AlgorithmIdentifier: the OID and a NULL parameter.
    const RSA_ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(body);
        out
    }

    /// PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey.
    pub fn rsa_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
        let mut body = vec![0x02, 0x01, 0x00];
        body.extend_from_slice(RSA_ALGORITHM);
        body.extend(tlv(0x04, pkcs1));
        tlv(0x30, &body)
    }

    /// SubjectPublicKeyInfo around a PKCS#1 RSAPublicKey.
    pub fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
        let mut bits = vec![0x00];
        bits.extend_from_slice(pkcs1);
        let mut body = RSA_ALGORITHM.to_vec();
        body.extend(tlv(0x03, &bits));
        tlv(0x30, &body)
    }
}
