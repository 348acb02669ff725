//! Value types that carry meaning: byte sizes, ages, timestamps, watermarks,
//! zone names.
//!
//! Invariants: every value here is already validated. Parsing from the
//! policy's human-readable strings ("14d", "50GiB", "90%", "50GiB free")
//! happens once, in [`crate::core::policy`]; the decision core never sees a string.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A number of bytes (file sizes, allocated blocks, filesystem usage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    /// Parses "512", "64KiB", "1.5 GiB", "2TB", "500MB" (binary and decimal units).
    pub fn parse(s: &str) -> Result<Bytes, String> {
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "{s:?} is not a size: expected a number with a unit such as \"50GiB\""
            ));
        }
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a size: bad number {num:?}"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "T" | "TiB" => 1 << 40,
            "P" | "PiB" => 1 << 50,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "PB" => 1_000_000_000_000_000,
            other => {
                return Err(format!(
                    "{s:?} is not a size: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)"
                ))
            }
        };
        let v = n * mult as f64;
        if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
            return Err(format!("{s:?} is out of range"));
        }
        Ok(Bytes(v.round() as u64))
    }

    /// Exact form that parses back to the same value: "64MiB", "1500000000".
    pub fn exact(self) -> String {
        for (shift, unit) in [(50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 != 0 && self.0 % (1u64 << shift) == 0 {
                return format!("{}{unit}", self.0 >> shift);
            }
        }
        self.0.to_string()
    }

    /// Saturating subtraction.
    pub fn saturating_sub(self, o: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(o.0))
    }
}

impl std::ops::Add for Bytes {
    type Output = Bytes;
    fn add(self, o: Bytes) -> Bytes {
        Bytes(self.0.saturating_add(o.0))
    }
}

impl std::ops::AddAssign for Bytes {
    fn add_assign(&mut self, o: Bytes) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::iter::Sum for Bytes {
    fn sum<I: Iterator<Item = Bytes>>(it: I) -> Bytes {
        it.fold(Bytes(0), |a, b| a + b)
    }
}

impl fmt::Display for Bytes {
    /// Human form with binary units, e.g. "1.5 GiB", "640 B".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut v = self.0 as f64;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < UNITS.len() {
            v /= 1024.0;
            i += 1;
        }
        if i == 0 {
            write!(f, "{} B", self.0)
        } else if v >= 100.0 {
            write!(f, "{:.0} {}", v, UNITS[i])
        } else {
            write!(f, "{:.1} {}", v, UNITS[i])
        }
    }
}

/// Seconds since the Unix epoch (UTC). Recording times, `now`, hold ranges.
///
/// Second resolution is what retention needs; the executor compares
/// nanosecond mtimes separately when it checks a file's identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable time; used as "no bound".
    pub const MIN: Timestamp = Timestamp(i64::MIN / 2);
    /// The latest representable time; used as "no bound".
    pub const MAX: Timestamp = Timestamp(i64::MAX / 2);

    /// Reads the system clock. Only the I/O edges call this; the core takes
    /// `now` as an argument.
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_secs() as i64)
    }

    /// `self - age`, saturating.
    pub fn minus(self, age: Age) -> Timestamp {
        Timestamp(self.0.saturating_sub(age.secs()))
    }

    /// `self + age`, saturating.
    pub fn plus(self, age: Age) -> Timestamp {
        Timestamp(self.0.saturating_add(age.secs()))
    }

    /// The age of something recorded at `self`, seen at `now` (zero if in the future).
    pub fn age_at(self, now: Timestamp) -> Age {
        Age(Duration::from_secs(now.0.saturating_sub(self.0).max(0) as u64))
    }

    /// RFC 3339 in UTC, e.g. "2026-10-20T14:00:00Z".
    pub fn rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp(self.0, 0) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            None => format!("@{}", self.0),
        }
    }

    /// The time an RFC 3339 string names (any offset), to the second.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Timestamp(t.timestamp()))
    }

    /// Short human form in UTC, e.g. "2026-10-20 14:00".
    pub fn short(self) -> String {
        match chrono::DateTime::from_timestamp(self.0, 0) {
            Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            None => format!("@{}", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// A duration used as an age or interval ("14d", "4w", "60days").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Age(pub Duration);

impl Age {
    /// Parses with humantime: "14d", "4w", "60days", "2h 30m".
    pub fn parse(s: &str) -> Result<Age, String> {
        humantime::parse_duration(s.trim())
            .map(Age)
            .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. \"14d\", \"4w\", \"60days\", \"2h\""))
    }

    /// From whole seconds.
    pub fn from_secs(s: u64) -> Age {
        Age(Duration::from_secs(s))
    }

    /// Exact form with every unit, parsing back to the same value: "29d 3h 1s".
    pub fn exact(self) -> String {
        let s = self.0.as_secs();
        let (d, h, m, sec) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
        let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
            .iter()
            .filter(|(v, _)| *v > 0)
            .map(|(v, u)| format!("{v}{u}"))
            .collect();
        if parts.is_empty() {
            "0s".into()
        } else {
            parts.join(" ")
        }
    }

    /// Whole seconds, saturating at `i64::MAX`.
    pub fn secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Age {
    /// Compact human form with at most two units: "28d", "29d 3h", "2m", "45s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        let (d, h, m, sec) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
        let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
            .iter()
            .filter(|(v, _)| *v > 0)
            .take(2)
            .map(|(v, u)| format!("{v}{u}"))
            .collect();
        if parts.is_empty() {
            f.write_str("0s")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// A disk watermark: either a share of the filesystem in use, or an amount
/// of free space that must remain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Watermark {
    /// Used share of the filesystem, in percent (0–100), as `df` computes it:
    /// used / (used + available to unprivileged users).
    Percent(f64),
    /// Free space (available to unprivileged users) that must remain.
    Free(Bytes),
}

impl Watermark {
    /// Parses "90%" or "50GiB free".
    pub fn parse(s: &str) -> Result<Watermark, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| format!("{s:?} is not a percentage"))?;
            if !(0.0..=100.0).contains(&v) || !v.is_finite() {
                return Err(format!("{s:?}: a percentage must be between 0% and 100%"));
            }
            return Ok(Watermark::Percent(v));
        }
        if let Some(b) = t.strip_suffix("free") {
            return Bytes::parse(b.trim()).map(Watermark::Free);
        }
        Err(format!(
            "{s:?} is not a watermark: write a used share such as \"90%\" or free space such as \"50GiB free\""
        ))
    }

    /// Bytes that must be freed so that this watermark holds, given the
    /// filesystem's used and available bytes (0 when it already holds).
    pub fn excess(self, used: Bytes, avail: Bytes) -> Bytes {
        match self {
            Watermark::Percent(p) => {
                let cap = (used.0 as u128) + (avail.0 as u128);
                let allowed = (cap as f64 * p / 100.0).floor() as u128;
                Bytes((used.0 as u128).saturating_sub(allowed) as u64)
            }
            Watermark::Free(want) => want.saturating_sub(avail),
        }
    }

    /// Bytes that can still be written before this watermark is crossed
    /// (0 when it already is).
    pub fn room(self, used: Bytes, avail: Bytes) -> Bytes {
        match self {
            Watermark::Percent(p) => {
                let cap = (used.0 as u128) + (avail.0 as u128);
                let allowed = (cap as f64 * p / 100.0).floor() as u128;
                Bytes(allowed.saturating_sub(used.0 as u128) as u64)
            }
            Watermark::Free(want) => avail.saturating_sub(want),
        }
    }
}

impl Watermark {
    /// Exact form that parses back to the same value.
    pub fn exact(self) -> String {
        match self {
            Watermark::Percent(p) => format!("{p}%"),
            Watermark::Free(b) => format!("{} free", b.exact()),
        }
    }
}

impl fmt::Display for Watermark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Watermark::Percent(p) => write!(f, "{p}%"),
            Watermark::Free(b) => write!(f, "{} free", b),
        }
    }
}

/// The name of a zone, as written in the policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneName(pub String);

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Index of a zone in [`crate::core::policy::Policy::zones`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(pub u16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(Bytes::parse("50GiB"), Ok(Bytes(50 << 30)));
        assert_eq!(Bytes::parse("1.5 KiB"), Ok(Bytes(1536)));
        assert_eq!(Bytes::parse("2TB"), Ok(Bytes(2_000_000_000_000)));
        assert_eq!(Bytes::parse("17"), Ok(Bytes(17)));
        assert!(Bytes::parse("GiB").is_err());
        assert!(Bytes::parse("5 parsecs").is_err());
    }

    #[test]
    fn parses_ages() {
        assert_eq!(Age::parse("14d").unwrap().secs(), 14 * 86400);
        assert_eq!(Age::parse("4w").unwrap().secs(), 28 * 86400);
        assert_eq!(Age::parse("60days").unwrap().secs(), 60 * 86400);
        assert!(Age::parse("2x").is_err());
        assert_eq!(Age::from_secs(29 * 86400 + 3 * 3600 + 5).to_string(), "29d 3h");
        assert_eq!(Age::from_secs(0).to_string(), "0s");
    }

    #[test]
    fn watermark_excess() {
        let w = Watermark::parse("80%").unwrap();
        // 90 used of 100: 10 must go.
        assert_eq!(w.excess(Bytes(90), Bytes(10)), Bytes(10));
        assert_eq!(w.excess(Bytes(70), Bytes(30)), Bytes(0));
        let f = Watermark::parse("50GiB free").unwrap();
        assert_eq!(f, Watermark::Free(Bytes(50 << 30)));
        assert_eq!(f.excess(Bytes(0), Bytes(40 << 30)), Bytes(10 << 30));
        assert!(Watermark::parse("120%").is_err());
        assert!(Watermark::parse("lots").is_err());
    }

    #[test]
    fn timestamps_format() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(86400 + 3600).short(), "1970-01-02 01:00");
    }
}
