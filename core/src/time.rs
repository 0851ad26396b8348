//! Time as the core counts it: nanoseconds since the Unix epoch (`i64`), from
//! packet timestamps or the caller's clock (the core never reads one), and
//! how the report writes it.

/// Seconds since the epoch as f64 (µs-exact for present-day timestamps).
pub fn ts_secs(ts_nanos: i64) -> f64 {
    // Round to microseconds so that the decimal rendering is short and stable.
    let micros = ts_nanos.div_euclid(1000);
    micros as f64 / 1e6
}

/// RFC 3339 rendering (UTC, nanoseconds) without a date library.
pub fn rfc3339(ts_nanos: i64) -> String {
    let secs = ts_nanos.div_euclid(1_000_000_000);
    let nanos = ts_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Suricata's EVE rendering (UTC, microseconds, numeric offset):
/// `2016-01-08T20:59:15.320017+0000`.
pub fn suricata(ts_nanos: i64) -> String {
    let micros = ts_nanos.div_euclid(1000);
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}+0000",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// HTTP's date (RFC 9110 IMF-fixdate, as Azure's `x-ms-date` wants it):
/// `Mon, 07 Dec 2026 11:50:38 GMT`, whole seconds.
pub fn http_date(ts_nanos: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ts_nanos.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Nanoseconds since the epoch from the report's seconds (µs-exact).
pub fn nanos_from_secs(ts_secs: f64) -> i64 {
    (ts_secs * 1e6).round() as i64 * 1000
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // 2026-12-07T11:50:38Z, a Monday.
        assert_eq!(
            http_date(1_796_644_238_000_000_000),
            "Mon, 07 Dec 2026 11:50:38 GMT"
        );
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_452_286_755_320_017_000),
            "2016-01-08T20:59:15.320017000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn suricata_format() {
        assert_eq!(
            suricata(1_452_286_755_320_017_999),
            "2016-01-08T20:59:15.320017+0000"
        );
        assert_eq!(suricata(-1), "1969-12-31T23:59:59.999999+0000");
        let t = nanos_from_secs(ts_secs(1_452_286_755_320_017_000));
        assert_eq!(t, 1_452_286_755_320_017_000);
    }
}
