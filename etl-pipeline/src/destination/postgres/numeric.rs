//! PostgreSQL's binary `numeric` (what `numeric_recv` reads), encoded from decimal text or from
//! a 128-bit mantissa and scale, so numerics of any length (beyond rust_decimal's 28 digits,
//! dlt's `wei` with 78 fractional digits) go in by binary `COPY` exactly.
//!
//! The format: `ndigits: i16, weight: i16, sign: u16, dscale: u16`, then `ndigits` base-10000
//! digits (`i16`), most significant first; the value is `Σ digit[i] · 10000^(weight − i)` and
//! `dscale` is the number of decimal digits after the point. The server applies the column's
//! `numeric(p,s)` to what it receives (rounding to `s`, an error when `p` is exceeded).

/// `sign` of a positive number.
const POSITIVE: u16 = 0x0000;
/// `sign` of a negative number.
const NEGATIVE: u16 = 0x4000;
/// `sign` of NaN.
const NAN: u16 = 0xC000;
/// The largest `dscale` `numeric_recv` accepts (`NUMERIC_DSCALE_MASK`).
const MAX_SCALE: usize = 0x3FFF;
/// PostgreSQL's limit on digits before the decimal point (`NUMERIC_WEIGHT_MAX` groups).
const MAX_INTEGER_DIGITS: usize = 131_072;

/// Text that is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a decimal number PostgreSQL's numeric can hold: {reason}")]
pub struct NumericError {
    /// The text (cut to 100 characters).
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

fn invalid(text: &str, reason: &'static str) -> NumericError {
    NumericError { text: text.chars().take(100).collect(), reason }
}

/// Appends the binary numeric of `mantissa · 10^−scale` (with `dscale = scale`).
pub fn encode_mantissa(mantissa: i128, scale: u32, out: &mut Vec<u8>) {
    let digits = mantissa.unsigned_abs().to_string();
    // Digits are ASCII and the scale is a u32: this cannot fail, but a failure must not panic.
    if encode_digits(mantissa < 0, digits.as_bytes(), scale as usize, out).is_err() {
        encode_nan(out);
    }
}

/// Appends the binary numeric of decimal text: an optional sign, digits with an optional point,
/// an optional exponent (`1.5e-3`), or `NaN`.
pub fn encode_text(text: &str, out: &mut Vec<u8>) -> Result<(), NumericError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("nan") {
        encode_nan(out);
        return Ok(());
    }
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let exp: i64 = rest[i + 1..].parse().map_err(|_| invalid(text, "bad exponent"))?;
            (&rest[..i], exp)
        }
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(invalid(text, "no digits"));
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(invalid(text, "not a digit"));
    }
    // All digits, with the point `scale` digits from the right.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let scale = frac.len() as i64 - exponent;
    let scale = if scale < 0 {
        let zeros = usize::try_from(-scale).ok().filter(|z| *z <= MAX_INTEGER_DIGITS).ok_or_else(|| invalid(text, "too many digits"))?;
        digits.resize(digits.len() + zeros, b'0');
        0
    } else {
        usize::try_from(scale).ok().filter(|s| *s <= MAX_SCALE).ok_or_else(|| invalid(text, "too many digits after the point"))?
    };
    encode_digits(negative, &digits, scale, out).map_err(|reason| invalid(text, reason))
}

/// Appends NaN.
pub fn encode_nan(out: &mut Vec<u8>) {
    for half in [0i16, 0] {
        out.extend_from_slice(&half.to_be_bytes());
    }
    out.extend_from_slice(&NAN.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
}

/// Appends the numeric of ASCII `digits` with the decimal point `scale` digits from the right.
fn encode_digits(negative: bool, digits: &[u8], scale: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    // Left-pad so the integer part is whole groups of four, right-pad the fraction likewise.
    let int_len = digits.len().saturating_sub(scale);
    let lead = (4 - int_len % 4) % 4;
    let frac_len = scale;
    let trail = (4 - frac_len % 4) % 4;
    let mut padded = Vec::with_capacity(lead + digits.len() + scale + trail);
    padded.resize(lead, b'0');
    if scale > digits.len() {
        padded.resize(lead + scale - digits.len(), b'0');
    }
    padded.extend_from_slice(digits);
    padded.resize(padded.len() + trail, b'0');
    let groups: Vec<i16> = padded.chunks(4).map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))).collect();
    let int_groups = (lead + int_len) / 4;
    // Strip leading and trailing zero groups; the weight is the leading group's power of 10000.
    let first = groups.iter().position(|g| *g != 0);
    let last = groups.iter().rposition(|g| *g != 0);
    let dscale = u16::try_from(scale).ok().filter(|s| usize::from(*s) <= MAX_SCALE).ok_or("too many digits after the point")?;
    let (ndigits, weight, sign, body) = match (first, last) {
        (Some(first), Some(last)) => {
            let weight = int_groups as i64 - 1 - first as i64;
            let weight = i16::try_from(weight).map_err(|_| "too many digits")?;
            let body = &groups[first..=last];
            let ndigits = i16::try_from(body.len()).map_err(|_| "too many digits")?;
            (ndigits, weight, if negative { NEGATIVE } else { POSITIVE }, body)
        }
        _ => (0, 0, POSITIVE, &groups[..0]),
    };
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in body {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(ndigits, weight, sign, dscale, digits)` of an encoded numeric.
    fn decode(bytes: &[u8]) -> (i16, i16, u16, u16, Vec<i16>) {
        let word = |i: usize| [bytes[2 * i], bytes[2 * i + 1]];
        let n = i16::from_be_bytes(word(0));
        let digits = (0..n as usize).map(|i| i16::from_be_bytes(word(4 + i))).collect();
        (n, i16::from_be_bytes(word(1)), u16::from_be_bytes(word(2)), u16::from_be_bytes(word(3)), digits)
    }

    fn text(t: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut out = Vec::new();
        encode_text(t, &mut out).unwrap();
        decode(&out)
    }

    fn mantissa(m: i128, scale: u32) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut out = Vec::new();
        encode_mantissa(m, scale, &mut out);
        decode(&out)
    }

    #[test]
    fn encodes_as_postgres_does() {
        // Values as numeric_send writes them (checked against the server in the integration test).
        assert_eq!(text("12.345"), (2, 0, POSITIVE, 3, vec![12, 3450]));
        assert_eq!(text("-0.000000001"), (1, -3, NEGATIVE, 9, vec![1000]));
        assert_eq!(text("0"), (0, 0, POSITIVE, 0, vec![]));
        assert_eq!(text("0.00"), (0, 0, POSITIVE, 2, vec![]));
        assert_eq!(text("10000"), (1, 1, POSITIVE, 0, vec![1]));
        assert_eq!(text("123456789.5"), (4, 2, POSITIVE, 1, vec![1, 2345, 6789, 5000]));
        assert_eq!(text("1.5e3"), (1, 0, POSITIVE, 0, vec![1500]));
        assert_eq!(text("15e-4"), (1, -1, POSITIVE, 4, vec![15]));
        assert_eq!(text(".5"), (1, -1, POSITIVE, 1, vec![5000]));
        assert_eq!(text("NaN").2, NAN);
    }

    #[test]
    fn mantissas_at_a_scale_encode_like_their_text() {
        assert_eq!(mantissa(12_345_000_000, 9), text("12.345000000"));
        assert_eq!(mantissa(-1, 9), text("-0.000000001"));
        assert_eq!(mantissa(i128::MAX, 0), text(&i128::MAX.to_string()));
        assert_eq!(mantissa(i128::MIN, 38), text("-1.70141183460469231731687303715884105728"));
        assert_eq!(mantissa(0, 9), (0, 0, POSITIVE, 9, vec![]));
    }

    #[test]
    fn numerics_far_beyond_28_digits_and_wei() {
        // 2^256 − 1 wei with 78 digits after the point.
        let wei = "115792089237316195423570985008687907853269984665640564039457.584007913129639935";
        let (n, weight, sign, dscale, digits) = text(wei);
        assert_eq!((weight, sign, dscale), (14, POSITIVE, 18));
        assert_eq!(digits.len(), n as usize);
        let back: String = digits.iter().map(|d| format!("{d:04}")).collect();
        assert!(back.trim_start_matches('0').starts_with("115792089237316195423570985008687907853269984665640564039457584007913129639935"));
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        for bad in ["", "-", "1.2.3", "abc", "1e", "1e99999999999", "--1", "1,5"] {
            assert!(encode_text(bad, &mut Vec::new()).is_err(), "{bad}");
        }
    }
}
