//! Arithmetic for increment and decrement. Integers stay exact over the whole
//! i64 ∪ u64 range (a result that leaves it is an error, never a wrap and
//! never a silent float); a float on either side means float arithmetic.

use serde_json::Number;

/// `current + by` (or `current - by` when `negate`), where a missing
/// `current` counts as 0. `None` when the result is out of range: beyond
/// [i64::MIN, u64::MAX] for integers, not finite for floats.
pub(crate) fn add(current: Option<&Number>, by: &Number, negate: bool) -> Option<Number> {
    let zero = Number::from(0);
    let current = current.unwrap_or(&zero);
    match (as_integer(current), as_integer(by)) {
        (Some(a), Some(b)) => {
            // Both fit in 65 bits, so i128 cannot overflow here.
            let sum = if negate { a - b } else { a + b };
            from_integer(sum)
        }
        _ => {
            let (a, b) = (current.as_f64()?, by.as_f64()?);
            Number::from_f64(if negate { a - b } else { a + b })
        }
    }
}

fn as_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn from_integer(n: i128) -> Option<Number> {
    if let Ok(small) = i64::try_from(n) {
        return Some(Number::from(small));
    }
    u64::try_from(n).ok().map(Number::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(json: &str) -> Number {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test number {json}: {e}"))
    }

    fn sum(current: Option<&str>, by: &str, negate: bool) -> Option<String> {
        let current = current.map(num);
        add(current.as_ref(), &num(by), negate).map(|n| n.to_string())
    }

    #[test]
    fn missing_counts_as_zero() {
        assert_eq!(sum(None, "5", false).as_deref(), Some("5"));
        assert_eq!(sum(None, "5", true).as_deref(), Some("-5"));
        assert_eq!(sum(None, "1.5", true).as_deref(), Some("-1.5"));
    }

    #[test]
    fn integers_stay_exact_across_i64_and_u64() {
        assert_eq!(
            sum(Some("9223372036854775807"), "1", false).as_deref(),
            Some("9223372036854775808")
        );
        assert_eq!(
            sum(Some("18446744073709551614"), "1", false).as_deref(),
            Some("18446744073709551615")
        );
        // Back down from u64 into i64, and below zero.
        assert_eq!(
            sum(Some("9223372036854775808"), "9223372036854775809", true).as_deref(),
            Some("-1")
        );
        assert_eq!(
            sum(Some("-9223372036854775807"), "1", true).as_deref(),
            Some("-9223372036854775808")
        );
    }

    #[test]
    fn leaving_the_integer_range_is_refused() {
        assert_eq!(sum(Some("18446744073709551615"), "1", false), None);
        assert_eq!(sum(Some("-9223372036854775808"), "1", true), None);
        assert_eq!(sum(None, "18446744073709551615", true), None);
    }

    #[test]
    fn a_float_on_either_side_gives_float_arithmetic() {
        assert_eq!(sum(Some("1.5"), "1", false).as_deref(), Some("2.5"));
        assert_eq!(sum(Some("1"), "0.25", false).as_deref(), Some("1.25"));
        assert_eq!(sum(Some("1.5"), "1.5", false).as_deref(), Some("3.0"));
    }

    #[test]
    fn a_float_that_overflows_is_refused() {
        assert_eq!(sum(Some("1e308"), "1e308", false), None);
        assert_eq!(sum(Some("-1e308"), "1e308", true), None);
    }
}
