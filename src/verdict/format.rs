//! Number formatting shared by every rendering of a verdict: the
//! `X-Spamd-Result` header, the log lines of the milter and HTTP sides.
use std::fmt::Write;

/// Appends `x` as `format!("{x:.2}")` would. Scores are formatted for every
/// symbol of every message, and the formatter's exact float-to-decimal
/// path is dear (`docs/performance.md`); here one multiplication and an
/// integer print do, whenever `x * 100` is safely away from a rounding tie
/// (its floating-point error is far below the margin). Near a tie, and for
/// huge or non-finite values, the formatter decides.
pub fn push_2dp(out: &mut String, x: f64) {
    let y = (x * 100.0).abs();
    let frac = y - y.floor();
    if y.is_nan() || y >= 1e9 || (frac - 0.5).abs() < 1e-6 {
        let _ = write!(out, "{x:.2}");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let n = y.round() as u64;
    let _ = write!(out, "{}.", n / 100);
    let cents = (n % 100) as u8;
    out.push(char::from(b'0' + cents / 10));
    out.push(char::from(b'0' + cents % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_decimals_as_the_formatter_writes_them() {
        let mut values = vec![
            0.0,
            -0.0,
            0.005,
            0.015,
            0.125,
            0.375,
            2.675,
            1.005,
            -0.001,
            -0.005,
            -1.5,
            15.0,
            0.1 + 0.2,
            99.995,
            1e8,
            1e12,
            -3.333,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            123_456.785,
        ];
        // Every multiple of 1/1000 and 1/800 up to 20 (ties and near-ties),
        // and a spread of pseudo-random values.
        values.extend((-20_000..20_000).map(|i| f64::from(i) / 1000.0));
        values.extend((-16_000..16_000).map(|i| f64::from(i) / 800.0));
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(f64::from_bits(seed) % 1e7);
        }
        for x in values {
            let mut got = String::new();
            push_2dp(&mut got, x);
            assert_eq!(got, format!("{x:.2}"), "{x:e}");
        }
    }
}
