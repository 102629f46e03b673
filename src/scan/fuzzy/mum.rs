//! MUM hash as Rspamd 3.4 builds it (x86-64: 128-bit products, an unroll
//! factor of 4, little-endian reads), the per-word hash of the `mumhash`
//! shingle algorithm. Written from the published algorithm; no crate
//! implements this exact variant, and a shingle only matches Rspamd's when
//! every constant and the unroll factor agree.

const HASH_STEP_PRIME: u64 = 0x2e0b_b864_e9ea_7df5;
const KEY_STEP_PRIME: u64 = 0xcdb3_2970_830f_caa1;
const BLOCK_START_PRIME: u64 = 0xc42b_5e2e_6480_b23b;
const UNROLL_PRIME: u64 = 0x7b51_ec3d_22f7_096f;
const TAIL_PRIME: u64 = 0xaf47_d47c_99b1_461b;
const FINISH_PRIME1: u64 = 0xa9a7_ae7c_eff7_9f3f;
const FINISH_PRIME2: u64 = 0xaf47_d47c_99b1_461b;
const PRIMES: [u64; 16] = [
    0x9ebd_cae1_0d98_1691,
    0x32b9_b9b9_7a27_ac7d,
    0x29b5_584d_83d3_5bbd,
    0x4b04_e0e6_1401_255f,
    0x25e8_f7b1_f1c9_d027,
    0x80d4_c8c0_00f3_e881,
    0xbd12_5543_1904_b9dd,
    0x8a3b_d448_5eee_6d81,
    0x3bc7_21b2_aad0_5197,
    0x71b1_a19b_907d_6e33,
    0x525e_6c10_84a8_534b,
    0x9e4c_2cd3_40c1_299f,
    0xde3a_dd92_e94c_aa37,
    0x7e14_eadb_1f65_311d,
    0x3f5a_a40f_8981_2853,
    0x33b1_5a3b_587d_15c9,
];
/// Words hashed per round before the state is re-mixed (x86-64's choice).
const UNROLL: usize = 4;

/// High plus low half of the 128-bit product.
fn mum(v: u64, p: u64) -> u64 {
    let r = u128::from(v) * u128::from(p);
    ((r >> 64) as u64).wrapping_add(r as u64)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

fn hash_aligned(start: u64, mut data: &[u8]) -> u64 {
    let mut result = mum(start, BLOCK_START_PRIME);
    while data.len() > UNROLL * 8 {
        for (i, prime) in PRIMES.iter().enumerate().take(UNROLL) {
            result ^= mum(read_u64(&data[i * 8..]), *prime);
        }
        data = &data[UNROLL * 8..];
        result = mum(result, UNROLL_PRIME);
    }
    let words = data.len() / 8;
    for (i, prime) in PRIMES.iter().enumerate().take(words) {
        result ^= mum(read_u64(&data[i * 8..]), *prime);
    }
    let tail = &data[words * 8..];
    if tail.is_empty() {
        return result;
    }
    let mut t = 0u64;
    for (i, b) in tail.iter().enumerate() {
        t |= u64::from(*b) << (8 * i);
    }
    result ^ mum(t, TAIL_PRIME)
}

fn finish(h: u64) -> u64 {
    let h = h ^ mum(h, FINISH_PRIME1);
    h ^ mum(h, FINISH_PRIME2)
}

/// `mum_hash(data, len, seed)`.
pub fn mum_hash(data: &[u8], seed: u64) -> u64 {
    finish(hash_aligned(seed.wrapping_add(data.len() as u64), data))
}

/// One step of the incremental form (`mum_hash_step`), which Rspamd's
/// tokenizer uses to seed its word sampling.
pub fn mum_step(h: u64, key: u64) -> u64 {
    mum(h, HASH_STEP_PRIME) ^ mum(key, KEY_STEP_PRIME)
}

/// `mum_hash_finish`.
pub fn mum_finish(h: u64) -> u64 {
    finish(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lengths_change_the_hash() {
        let data = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
        let all: Vec<u64> = (0..data.len()).map(|n| mum_hash(&data[..n], 0)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "every prefix hashes differently");
        assert_ne!(mum_hash(b"word", 1), mum_hash(b"word", 2));
    }
}
