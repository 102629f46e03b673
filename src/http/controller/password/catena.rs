//! Catena-Butterfly (the Catena v3.1 password hash on a double butterfly
//! graph, BLAKE2b throughout), as Rspamd's `$2$` password hashes use it.
//!
//! Hand-written: no crate implements Catena. It follows the published
//! algorithm in the variant Rspamd ships (full BLAKE2b as the fast hash,
//! xorshift1024* as the gamma function's random walk), which does not give
//! the specification's test vector; it is checked against hashes made by
//! `rspamadm pw`.
use blake2::{Blake2b512, Digest};

/// Output of the BLAKE2b the graph is built of.
const H: usize = 64;
type Block = [u8; H];

const VERSION_ID: &[u8] = b"Butterfly-Full";
/// Catena's tweak: the password-hashing mode (not key derivation).
const PASSWORD_HASHING_MODE: u8 = 0;

/// Why the parameters cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("catena: unusable parameters (lambda {lambda}, garlic {min_garlic}..{garlic}, {hash_len}-byte hash)")]
pub struct Params {
    pub lambda: u8,
    pub min_garlic: u8,
    pub garlic: u8,
    pub hash_len: u8,
}

/// Catena of `password` with `salt` and associated `data`, `hash_len`
/// bytes long (at most 64).
///
/// Lengths follow the reference code's types: the password and salt enter
/// the first hash with their length modulo 256.
pub fn hash(password: &[u8], salt: &[u8], data: &[u8], p: Params) -> Result<Vec<u8>, Params> {
    let usable = usize::from(p.hash_len) <= H
        && p.garlic <= 63
        && p.min_garlic <= p.garlic
        && p.lambda != 0
        && p.min_garlic != 0;
    if !usable {
        return Err(p);
    }
    let hv = h(&[VERSION_ID]);
    let tweak = [
        PASSWORD_HASHING_MODE,
        p.lambda,
        p.hash_len,
        salt.len() as u8,
    ];
    let ad = h(&[data]);
    let pwd = &password[..password.len() % 256];
    let salt_part = &salt[..salt.len() % 256];
    let mut x = h(&[&hv, &tweak, &ad, pwd, salt_part]);
    x = flap(&x, p.lambda, p.min_garlic.div_ceil(2), salt);
    for c in p.min_garlic..=p.garlic {
        x = flap(&x, p.lambda, c, salt);
        x = h(&[&[c], &x]);
        x[usize::from(p.hash_len)..].fill(0);
    }
    Ok(x[..usize::from(p.hash_len)].to_vec())
}

/// BLAKE2b-512 of the concatenated parts.
fn h(parts: &[&[u8]]) -> Block {
    let mut d = Blake2b512::new();
    for part in parts {
        d.update(part);
    }
    d.finalize().into()
}

/// The graph's memory: `c + m` blocks, addressed by row level and index.
struct Graph {
    r: Vec<Block>,
    c: u64,
    m: u64,
    /// Rows carried over from the previous layer (the memory is reused
    /// three rows' worth at a time).
    co: u64,
}

impl Graph {
    /// The slot of element `j` on level `i`.
    fn idx(&self, i: u64, j: u64) -> usize {
        let slot = match (i + self.co) % 3 {
            0 => j,
            1 if j < self.m => j + self.c,
            1 => j - self.m,
            _ => j + self.m,
        };
        slot as usize
    }
}

/// The butterfly's diagonal edge of element `j` on level `i`.
fn sigma(g: u8, i: u64, j: u64) -> u64 {
    let g = u64::from(g);
    if i < g {
        j ^ (1 << (g - 1 - i))
    } else {
        j ^ (1 << (i - (g - 1)))
    }
}

/// One round of the double butterfly graph at `garlic`.
fn flap(x: &Block, lambda: u8, garlic: u8, salt: &[u8]) -> Block {
    let c = 1u64 << garlic;
    let m = 1u64 << (garlic - 1);
    let levels = 2 * u64::from(garlic);
    let mut g = Graph {
        r: vec![[0; H]; (c + m) as usize],
        c,
        m,
        co: 0,
    };
    init_mem(x, &mut g.r[..c as usize]);
    gamma(garlic, salt, &mut g.r);
    for _ in 0..lambda {
        for i in 1..levels {
            let tmp = xor(&g.r[g.idx(i - 1, c - 1)], &g.r[g.idx(i - 1, 0)]);
            let diag = g.r[g.idx(i - 1, sigma(garlic, i - 1, 0))];
            let first = h(&[&tmp, &diag]);
            let out = g.idx(i, 0);
            g.r[out] = h(&[&[0], &first]);
            for j in 1..c {
                let tmp = xor(&g.r[g.idx(i, j - 1)], &g.r[g.idx(i - 1, j)]);
                let diag = g.r[g.idx(i - 1, sigma(garlic, i - 1, j))];
                let out = g.idx(i, j);
                g.r[out] = h(&[&tmp, &diag]);
            }
        }
        g.co = (g.co + (levels - 1)) % 3;
    }
    g.r[g.idx(0, c - 1)]
}

/// The top row: a hash chain seeded from `x`.
fn init_mem(x: &Block, r: &mut [Block]) {
    let vm1 = h(&[&[0], x]);
    let vm2 = h(&[&[1], x]);
    r[0] = h(&[&vm1, &vm2]);
    r[1] = h(&[&r[0], &vm1]);
    for i in 2..r.len() {
        r[i] = h(&[&r[i - 1], &r[i - 2]]);
    }
}

/// The salt-dependent random walk over the top row.
fn gamma(garlic: u8, salt: &[u8], r: &mut [Block]) {
    let q = 1u64 << (3 * u64::from(garlic)).div_ceil(4);
    let a = h(&[salt]);
    let b = h(&[&a]);
    let mut rng = XorShift::new(&a, &b);
    let shift = 64 - u32::from(garlic);
    for _ in 0..q {
        let j = (rng.next() >> shift) as usize;
        let j2 = (rng.next() >> shift) as usize;
        r[j] = h(&[&r[j], &r[j2]]);
    }
}

fn xor(a: &Block, b: &Block) -> Block {
    let mut out = [0; H];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// xorshift1024*, seeded from two blocks read as little-endian words.
struct XorShift {
    s: [u64; 16],
    p: usize,
}

impl XorShift {
    fn new(a: &Block, b: &Block) -> XorShift {
        let mut s = [0u64; 16];
        for i in 0..8 {
            let word = |blk: &Block| {
                u64::from_le_bytes(blk[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
            };
            s[i] = word(a);
            s[i + 8] = word(b);
        }
        XorShift { s, p: 0 }
    }

    fn next(&mut self) -> u64 {
        let mut s0 = self.s[self.p];
        self.p = (self.p + 1) & 15;
        let mut s1 = self.s[self.p];
        s1 ^= s1 << 31;
        s1 ^= s1 >> 11;
        s0 ^= s0 >> 30;
        self.s[self.p] = s0 ^ s1;
        self.s[self.p].wrapping_mul(1_181_783_497_276_652_981)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rspamd's variant (full BLAKE2b at every vertex) differs from the
    /// specification's test vector, which Rspamd never checks: the known
    /// answer is the key of `rspamadm pw -p test` (Rspamd 3.4), whose
    /// parameters are Rspamd's (`rspamd` as data, lambda 4, garlic 10).
    #[test]
    fn rspamadm_known_answer() {
        let salt = super::super::base32::decode("tswof7ip5395745hkth5895531xqaayk").unwrap();
        let key =
            super::super::base32::decode("447cr594t1rfdxwude31k77rpiyak8ici4ui6i337hsbqxeoespy")
                .unwrap();
        let p = Params {
            lambda: 4,
            min_garlic: 10,
            garlic: 10,
            hash_len: 32,
        };
        assert_eq!(hash(b"test", &salt, b"rspamd", p).unwrap(), key);
        assert_ne!(hash(b"test", &salt, b"other", p).unwrap(), key);
    }

    #[test]
    fn unusable_parameters_are_refused() {
        let p = Params {
            lambda: 0,
            min_garlic: 1,
            garlic: 1,
            hash_len: 32,
        };
        assert_eq!(hash(b"x", b"y", b"", p), Err(p));
        let long = Params {
            lambda: 1,
            min_garlic: 1,
            garlic: 1,
            hash_len: 65,
        };
        assert!(hash(b"x", b"y", b"", long).is_err());
    }
}
