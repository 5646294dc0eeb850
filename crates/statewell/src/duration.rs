//! The one duration syntax of every flag (`serve`'s, the verbs', and the
//! bench's, which parses it the same way): humantime's `250ms`, `30s`, `5m`,
//! `1h 30m`, `1.5s`; a bare `0` is zero.

use std::time::Duration;

/// Parses `text` and checks it lies within `min..=max`; the error says what
/// is expected, for clap to print after the flag's name.
pub fn parse_duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("expected a duration such as 250ms, 30s or 5m, got {text:?} ({e})"))?;
    if duration < min || duration > max {
        return Err(format!(
            "must be between {} and {}, got {text:?}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_units_within_bounds() {
        let any = |text| parse_duration(text, Duration::ZERO, Duration::from_secs(86_400));
        assert_eq!(any("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(any("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(any("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(any("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(any("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(any("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "-1s", "soon", "2d"] {
            assert!(any(bad).is_err(), "{bad}");
        }
        let message = parse_duration("2s", Duration::ZERO, Duration::from_secs(1));
        assert_eq!(message, Err("must be between 0s and 1s, got \"2s\"".into()));
    }
}
