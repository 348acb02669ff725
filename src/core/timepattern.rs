//! Recording times parsed from paths.
//!
//! Some NVRs encode the time a recording started in its path, e.g. Frigate
//! writes `2026-11-20/14/cam07/05.00.mp4` for a recording that started at
//! 2026-11-20 14:05:00 UTC. A zone's `time = "..."` policy key gives a
//! *time pattern* describing that layout; the recording time read from the
//! path then takes the place of the file's modification time.
//!
//! # Syntax
//!
//! A pattern is matched against the path of a file *relative to the zone
//! root*, one path component at a time. Components are separated by `/`,
//! and the pattern must match the whole path: it needs as many components
//! as the path has, unless it contains `**` (below). Within a component:
//!
//! | Token | Matches |
//! |-------|---------|
//! | `%Y`  | the year, exactly 4 digits (`0000`–`9999`) |
//! | `%y`  | the year in 2000–2099, exactly 2 digits (`00`–`99`), as ZoneMinder's deep scheme writes it |
//! | `%m`  | the month, exactly 2 digits (`01`–`12`) |
//! | `%d`  | the day of the month, exactly 2 digits (`01`–`31`, and no more than the month has) |
//! | `%H`  | the hour, exactly 2 digits (`00`–`23`) |
//! | `%M`  | the minute, exactly 2 digits (`00`–`59`) |
//! | `%S`  | the second, exactly 2 digits (`00`–`59`; leap second `60` is not accepted) |
//! | `%j`  | the day of the year, exactly 3 digits (`001`–`365`, `366` in leap years) |
//! | `%s`  | Unix time in seconds, 1 or more digits |
//! | `%%`  | a literal `%` |
//! | `*`   | any run of characters other than `/`, possibly empty |
//! | `?`   | exactly one character other than `/` |
//! | `**`  | only as a whole component: any number (zero or more) of whole path components |
//!
//! Every other character stands for itself, compared byte for byte
//! (case-sensitively). Paths are matched as raw bytes, so names that are not
//! valid UTF-8 are fine: `*` and the literals work on bytes, and `?` matches
//! one UTF-8 encoded character or, where the bytes are not valid UTF-8, one
//! byte.
//!
//! A digit field never matches a sign, a space or anything but ASCII digits,
//! and a value out of range (month `13`, hour `24`, `02-30`, day of year `366`
//! in a common year) makes the path *not match*: such files fall back to the
//! ordinary (modification-time) handling.
//!
//! When a path can be split among the tokens in more than one way, the
//! match is searched left to right with `*` taking as few characters as
//! possible, `**` as few components as possible and `%s` as many digits as
//! possible; the first split that gives a valid time wins.
//!
//! Fields missing from the pattern take defaults: month 1, day 1, hour,
//! minute and second 0. So `%Y/%m/%d/*.mp4` gives midnight at the start of
//! the day.
//!
//! Examples:
//!
//! - `%Y-%m-%d/%H/*/%M.%S.mp4`: Frigate (`2026-11-20/14/cam07/05.00.mp4`).
//! - `*/%Y/%m/%d/*_%H%M%S.wav`: one directory per camera, then the date.
//! - `**/rec_%s.mkv`: `rec_1795183500.mkv` at any depth.
//! - `%Y/%m/%d/**`: every file at any depth below a day directory gets
//!   midnight of that day.
//!
//! # Rules checked when the policy is loaded
//!
//! The pattern is rejected, with a message naming the offending token, when:
//! it is empty; it is absolute (starts with `/`); it has an empty component
//! (`//`, or a trailing `/`); it uses an unknown escape (`%q`) or ends in a
//! lone `%`; `**` appears in a component together with anything else; a
//! field appears twice; `%j` is combined with `%m` or `%d`; `%s` is combined
//! with any calendar field (`%Y %y %m %d %H %M %S %j`: the time would be given
//! twice; use `*` for the other parts); `%Y` is combined with `%y`; or it
//! contains none of `%Y`, `%y` and `%s`.
//!
//! # Time zone
//!
//! The calendar fields are read in the zone's `time_zone` (see
//! [`PatternZone`]): `UTC` (the default), `local` (the system's time zone,
//! with its daylight-saving rules) or a fixed offset such as `+02:00` or
//! `-05:30`. `%s` is always Unix time and ignores the time zone.
//!
//! With `local`, daylight-saving transitions are resolved as follows:
//!
//! - A local time that occurs twice (the clock is turned back: a *fold*) is
//!   read as the **earlier** of the two instants, so the recording looks at
//!   most one fold older than it is, never younger.
//! - A local time that does not exist (the clock is turned forward: a
//!   *gap*) is read with the **UTC offset in force before the gap**; e.g.
//!   where 02:00 jumps to 03:00, `02:30` is read as 02:30 standard time,
//!   which is the instant the clock shows 03:30. Times in the gap thus stay
//!   in order with the times around it.

use std::fmt;

use chrono::{DateTime, LocalResult, Offset, TimeDelta, TimeZone};

use crate::core::units::Timestamp;

/// The time zone in which the calendar fields of a [`TimePattern`] are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PatternZone {
    /// Coordinated Universal Time (the default).
    #[default]
    Utc,
    /// The system's local time zone, with its daylight-saving rules.
    Local,
    /// A fixed offset, in seconds east of UTC (`+02:00` is `Fixed(7200)`).
    Fixed(i32),
}

impl PatternZone {
    /// Parses `"UTC"` (also `"utc"`, `"Z"`), `"local"` (any case) or a fixed
    /// offset `"+HH:MM"`, `"-HH:MM"`, `"+HHMM"` or `"+HH"` (up to ±23:59).
    pub fn parse(s: &str) -> Result<PatternZone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(PatternZone::Utc);
        }
        if t.eq_ignore_ascii_case("local") {
            return Ok(PatternZone::Local);
        }
        let bad = || {
            format!(
                "{s:?} is not a time zone: expected \"UTC\", \"local\" or an offset such as \"+02:00\" or \"-05:30\""
            )
        };
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (hh, mm) = match rest.len() {
            2 => (rest, "00"),
            4 => (&rest[..2], &rest[2..]),
            5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
            _ => return Err(bad()),
        };
        let two = |x: &str| -> Option<i32> {
            let b = x.as_bytes();
            (b.len() == 2 && b.iter().all(u8::is_ascii_digit))
                .then(|| i32::from(b[0] - b'0') * 10 + i32::from(b[1] - b'0'))
        };
        let (h, m) = two(hh).zip(two(mm)).ok_or_else(bad)?;
        if h > 23 || m > 59 {
            return Err(format!(
                "{s:?} is not a valid UTC offset: hours must be 00-23 and minutes 00-59"
            ));
        }
        Ok(PatternZone::Fixed(sign * (h * 3600 + m * 60)))
    }
}

impl fmt::Display for PatternZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PatternZone::Utc => f.write_str("UTC"),
            PatternZone::Local => f.write_str("local"),
            PatternZone::Fixed(secs) => {
                let sign = if secs < 0 { '-' } else { '+' };
                let a = secs.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
            }
        }
    }
}

/// A field read from digits in the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    YearDay,
    Epoch,
    /// `%y`: two digits, the year in 2000-2099 (ZoneMinder's deep scheme).
    Year2,
}

impl Field {
    const ALL: [Field; 9] = [
        Field::Year,
        Field::Month,
        Field::Day,
        Field::Hour,
        Field::Minute,
        Field::Second,
        Field::YearDay,
        Field::Epoch,
        Field::Year2,
    ];

    fn from_escape(c: char) -> Option<Field> {
        Some(match c {
            'Y' => Field::Year,
            'm' => Field::Month,
            'd' => Field::Day,
            'H' => Field::Hour,
            'M' => Field::Minute,
            'S' => Field::Second,
            'j' => Field::YearDay,
            's' => Field::Epoch,
            'y' => Field::Year2,
            _ => return None,
        })
    }

    fn token(self) -> &'static str {
        match self {
            Field::Year => "%Y",
            Field::Month => "%m",
            Field::Day => "%d",
            Field::Hour => "%H",
            Field::Minute => "%M",
            Field::Second => "%S",
            Field::YearDay => "%j",
            Field::Epoch => "%s",
            Field::Year2 => "%y",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }

    /// Fixed width in digits and inclusive range; `None` for `%s`.
    fn width_range(self) -> Option<(usize, u32, u32)> {
        Some(match self {
            Field::Year => (4, 0, 9999),
            Field::Month => (2, 1, 12),
            Field::Day => (2, 1, 31),
            Field::Hour => (2, 0, 23),
            Field::Minute => (2, 0, 59),
            Field::Second => (2, 0, 59),
            Field::YearDay => (3, 1, 366),
            Field::Year2 => (2, 0, 99),
            Field::Epoch => return None,
        })
    }
}

/// One precompiled step of the matcher. Components are joined by `Sep`, so
/// the matcher walks the whole relative path in one pass.
#[derive(Clone, Debug)]
enum Tok {
    /// Literal bytes (never contain '/').
    Lit(Box<[u8]>),
    /// A digit field.
    Field(Field),
    /// `*`: any run of non-'/' bytes.
    Star,
    /// `?`: one character other than '/'.
    Any,
    /// The '/' between two components.
    Sep,
    /// `**/` in the middle or at the start: zero or more whole components,
    /// each followed by its '/'.
    Dirs,
    /// `/**` at the end: nothing, or '/' followed by anything.
    Tail,
    /// A pattern that is just `**` (cannot pass validation; kept for
    /// completeness): anything.
    All,
}

/// Values captured so far; unset fields hold their defaults.
#[derive(Clone, Copy, Debug)]
struct Captured {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 when `%j` is not in the pattern.
    yday: u32,
    epoch: i64,
}

impl Captured {
    const DEFAULT: Captured = Captured {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        yday: 0,
        epoch: 0,
    };

    fn set(&mut self, f: Field, v: u32) {
        match f {
            Field::Year => self.year = v,
            Field::Month => self.month = v,
            Field::Day => self.day = v,
            Field::Hour => self.hour = v,
            Field::Minute => self.minute = v,
            Field::Second => self.second = v,
            Field::YearDay => self.yday = v,
            Field::Epoch => self.epoch = i64::from(v),
            Field::Year2 => self.year = 2000 + v,
        }
    }
}

/// A compiled time pattern: reads a recording's time from its path.
///
/// See the [module documentation](self) for the syntax.
#[derive(Clone, Debug)]
pub struct TimePattern {
    source: String,
    zone: PatternZone,
    toks: Box<[Tok]>,
    /// Number of components when the pattern has no `**`.
    depth: Option<usize>,
    /// Literal bytes every matching path ends with (cheap early reject).
    suffix: Box<[u8]>,
    /// Whether the time comes from `%s` rather than calendar fields.
    epoch: bool,
}

/// A parsed component before flattening.
enum Comp {
    Globstar,
    Toks(Vec<Tok>),
}

impl TimePattern {
    /// Compiles `pattern` (the policy's `time = "..."`), whose calendar
    /// fields are read in `zone`.
    ///
    /// Fails with a sentence naming the offending token when the pattern
    /// breaks one of the rules in the [module documentation](self).
    pub fn parse(pattern: &str, zone: PatternZone) -> Result<TimePattern, String> {
        let err = |msg: String| Err(format!("time pattern {pattern:?}: {msg}"));
        if pattern.is_empty() {
            return err("the pattern is empty".into());
        }
        if pattern.starts_with('/') {
            return err(
                "the pattern starts with '/', but it is matched against paths relative to the zone root; remove the leading '/'"
                    .into(),
            );
        }

        let mut seen: u16 = 0;
        let mut comps: Vec<Comp> = Vec::new();
        for comp in pattern.split('/') {
            if comp.is_empty() {
                return err("empty path component (a doubled '/' or a trailing '/')".into());
            }
            if comp == "**" {
                // `**/**` means the same as `**`.
                if !matches!(comps.last(), Some(Comp::Globstar)) {
                    comps.push(Comp::Globstar);
                }
                continue;
            }
            if comp.contains("**") {
                return err(format!(
                    "\"**\" must be a whole path component on its own, but it appears in {comp:?}; use \"*\" within a component"
                ));
            }
            let mut toks: Vec<Tok> = Vec::new();
            let mut lit: Vec<u8> = Vec::new();
            let flush = |lit: &mut Vec<u8>, toks: &mut Vec<Tok>| {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(lit).into_boxed_slice()));
                }
            };
            let mut chars = comp.chars();
            while let Some(c) = chars.next() {
                match c {
                    '%' => match chars.next() {
                        None => {
                            return err(format!(
                                "component {comp:?} ends with a lone '%'; write \"%%\" for a literal percent sign"
                            ))
                        }
                        Some('%') => lit.push(b'%'),
                        Some(e) => {
                            let Some(f) = Field::from_escape(e) else {
                                return err(format!(
                                    "unknown escape \"%{e}\"; the escapes are %Y %m %d %H %M %S %j %s and %%"
                                ));
                            };
                            if seen & f.bit() != 0 {
                                return err(format!(
                                    "{} appears more than once; each field may be given only once",
                                    f.token()
                                ));
                            }
                            seen |= f.bit();
                            flush(&mut lit, &mut toks);
                            toks.push(Tok::Field(f));
                        }
                    },
                    '*' => {
                        flush(&mut lit, &mut toks);
                        toks.push(Tok::Star);
                    }
                    '?' => {
                        flush(&mut lit, &mut toks);
                        toks.push(Tok::Any);
                    }
                    c => {
                        let mut buf = [0u8; 4];
                        lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            flush(&mut lit, &mut toks);
            comps.push(Comp::Toks(toks));
        }

        let has = |f: Field| seen & f.bit() != 0;
        if has(Field::YearDay) {
            for f in [Field::Month, Field::Day] {
                if has(f) {
                    return err(format!(
                        "%j (day of the year) cannot be combined with {}; use either %j or %m and %d",
                        f.token()
                    ));
                }
            }
        }
        if has(Field::Epoch) {
            if let Some(f) = Field::ALL.into_iter().find(|&f| f != Field::Epoch && has(f)) {
                return err(format!(
                    "%s (Unix seconds) cannot be combined with {}: the time would be given twice; match the other parts with \"*\"",
                    f.token()
                ));
            }
        } else if has(Field::Year) && has(Field::Year2) {
            return err("%Y and %y both give the year; use one of them".into());
        } else if !has(Field::Year) && !has(Field::Year2) {
            return err("the pattern must contain %Y or %y (with %m, %d...) or %s".into());
        }

        let depth = (!comps.iter().any(|c| matches!(c, Comp::Globstar))).then_some(comps.len());
        let n = comps.len();
        let mut toks: Vec<Tok> = Vec::new();
        for (i, comp) in comps.into_iter().enumerate() {
            let last = i + 1 == n;
            match comp {
                Comp::Globstar if last => {
                    if i == 0 {
                        toks.push(Tok::All);
                    } else {
                        // Replace the separator before it.
                        toks.pop();
                        toks.push(Tok::Tail);
                    }
                }
                // `Dirs` includes the '/' after each component it skips.
                Comp::Globstar => toks.push(Tok::Dirs),
                Comp::Toks(t) => {
                    toks.extend(t);
                    if !last {
                        toks.push(Tok::Sep);
                    }
                }
            }
        }
        let suffix = match toks.last() {
            Some(Tok::Lit(l)) => l.clone(),
            _ => Box::default(),
        };

        Ok(TimePattern {
            source: pattern.to_owned(),
            zone,
            toks: toks.into_boxed_slice(),
            depth,
            suffix,
            epoch: has(Field::Epoch),
        })
    }

    /// Recording time of a file at `rel` (relative to the zone root,
    /// '/'-separated, no leading '/'), or `None` when the path does not
    /// match the pattern or the time it spells does not exist.
    pub fn match_path(&self, rel: &[u8]) -> Option<Timestamp> {
        if !rel.ends_with(&self.suffix) {
            return None;
        }
        if let Some(d) = self.depth {
            if rel.iter().filter(|&&b| b == b'/').count() + 1 != d {
                return None;
            }
        }
        self.walk(&self.toks, rel, Captured::DEFAULT).map(Timestamp)
    }

    /// Number of '/'-separated components the pattern matches (`None` when
    /// it contains `**`); lets the scanner skip deeper directories.
    pub fn depth(&self) -> Option<usize> {
        self.depth
    }

    /// The pattern as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The time zone the calendar fields are read in.
    pub fn zone(&self) -> PatternZone {
        self.zone
    }

    /// Backtracking matcher: matches `toks` against all of `s`, then turns
    /// the captures into a time; a capture that spells no valid time makes
    /// the matcher try the next split.
    fn walk(&self, toks: &[Tok], s: &[u8], mut c: Captured) -> Option<i64> {
        let Some((tok, rest)) = toks.split_first() else {
            return if s.is_empty() { self.finish(&c) } else { None };
        };
        match tok {
            Tok::Lit(l) => self.walk(rest, s.strip_prefix(&**l)?, c),
            Tok::Sep => self.walk(rest, s.strip_prefix(b"/")?, c),
            Tok::Any => {
                if matches!(s.first(), None | Some(b'/')) {
                    return None;
                }
                self.walk(rest, &s[utf8_len(s)..], c)
            }
            Tok::Star => {
                let end = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
                (0..=end).find_map(|i| self.walk(rest, &s[i..], c))
            }
            Tok::Dirs => {
                // Zero components, then after each '/' in turn.
                self.walk(rest, s, c).or_else(|| {
                    s.iter()
                        .enumerate()
                        .filter(|&(_, &b)| b == b'/')
                        .find_map(|(i, _)| self.walk(rest, &s[i + 1..], c))
                })
            }
            Tok::Tail => {
                if s.is_empty() || s[0] == b'/' {
                    self.walk(rest, &[], c)
                } else {
                    None
                }
            }
            Tok::All => self.walk(rest, &[], c),
            Tok::Field(Field::Epoch) => {
                let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
                // Longest first; runs too long for an i64 are skipped.
                (1..=n).rev().find_map(|len| {
                    let v = s[..len]
                        .iter()
                        .try_fold(0i64, |acc, &b| acc.checked_mul(10)?.checked_add(i64::from(b - b'0')))?;
                    c.epoch = v;
                    self.walk(rest, &s[len..], c)
                })
            }
            Tok::Field(f) => {
                let (w, lo, hi) = f.width_range()?;
                let digits = s.get(..w)?;
                let mut v = 0u32;
                for &b in digits {
                    if !b.is_ascii_digit() {
                        return None;
                    }
                    v = v * 10 + u32::from(b - b'0');
                }
                if v < lo || v > hi {
                    return None;
                }
                c.set(*f, v);
                self.walk(rest, &s[w..], c)
            }
        }
    }

    /// The instant the captured fields spell, or `None` when they spell no
    /// valid date.
    fn finish(&self, c: &Captured) -> Option<i64> {
        if self.epoch {
            return Some(c.epoch);
        }
        let y = i64::from(c.year);
        let days = if c.yday != 0 {
            let len = if is_leap(y) { 366 } else { 365 };
            if c.yday > len {
                return None;
            }
            days_from_civil(y, 1, 1) + i64::from(c.yday) - 1
        } else {
            if c.day > days_in_month(y, c.month) {
                return None;
            }
            days_from_civil(y, c.month, c.day)
        };
        let local = days * 86_400 + i64::from(c.hour) * 3600 + i64::from(c.minute) * 60 + i64::from(c.second);
        match self.zone {
            PatternZone::Utc => Some(local),
            PatternZone::Fixed(off) => Some(local - i64::from(off)),
            PatternZone::Local => resolve_local(&chrono::Local, local),
        }
    }
}

/// Turns a civil time in `tz`, given as seconds since 1970-01-01T00:00 of
/// that civil clock, into Unix seconds: a fold gives the earlier instant, a
/// gap is read with the offset in force before it.
fn resolve_local<Tz: TimeZone>(tz: &Tz, local: i64) -> Option<i64> {
    let naive = DateTime::from_timestamp(local, 0)?.naive_utc();
    let off = |o: &Tz::Offset| i64::from(o.fix().local_minus_utc());
    match tz.offset_from_local_datetime(&naive) {
        LocalResult::Single(o) => Some(local - off(&o)),
        LocalResult::Ambiguous(a, b) => Some(local - off(&a).max(off(&b))),
        LocalResult::None => {
            // A gap (or a time zone lookup error): take the offset of a day
            // earlier, which is the one before the gap (transitions are
            // months apart).
            let before = naive.checked_sub_signed(TimeDelta::days(1))?;
            Some(local - off(&tz.offset_from_utc_datetime(&before)))
        }
    }
}

/// Length of the character at the start of `s` (non-empty): a whole UTF-8
/// sequence when one starts there, else one byte.
fn utf8_len(s: &[u8]) -> usize {
    let n = match s[0] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return 1,
    };
    match s.get(..n) {
        Some(seq) if std::str::from_utf8(seq).is_ok() => n,
        _ => 1,
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime};
    use proptest::prelude::*;

    const FRIGATE: &str = "%Y-%m-%d/%H/*/%M.%S.mp4";

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
        Some(
            NaiveDate::from_ymd_opt(y, mo, d)?
                .and_hms_opt(h, mi, s)?
                .and_utc()
                .timestamp(),
        )
    }

    fn pat(p: &str) -> TimePattern {
        TimePattern::parse(p, PatternZone::Utc).unwrap_or_else(|e| panic!("{e}"))
    }

    fn m(p: &str, path: &[u8]) -> Option<i64> {
        pat(p).match_path(path).map(|t| t.0)
    }

    #[test]
    fn frigate_exact() {
        assert_eq!(m(FRIGATE, b"2026-11-20/14/cam07/05.00.mp4"), Some(1_795_183_500));
        assert_eq!(
            m(FRIGATE, b"2026-11-20/14/cam07/05.00.mp4"),
            utc(2026, 11, 20, 14, 5, 0)
        );
        let p = pat(FRIGATE);
        assert_eq!(p.depth(), Some(4));
        assert_eq!(p.as_str(), FRIGATE);
        assert_eq!(p.zone(), PatternZone::Utc);
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[u8], Option<i64>)] = &[
            // Frigate, non-matching.
            (FRIGATE, b"2026-11-20/14/05.00.mp4", None), // too shallow
            (FRIGATE, b"2026-11-20/14/cam07/x/05.00.mp4", None), // too deep
            (FRIGATE, b"2026-11-20/14/cam07/05.00.mkv", None), // extension
            (FRIGATE, b"2026-11-20/14/cam07/05.00.mp4.tmp", None),
            (FRIGATE, b"2026-1a-20/14/cam07/05.00.mp4", None), // letter
            (FRIGATE, b"2026-11-20/1/cam07/05.00.mp4", None),  // one digit
            (FRIGATE, b"2026-11-20/014/cam07/05.00.mp4", None), // three digits
            (FRIGATE, b"2026-11-20/+4/cam07/05.00.mp4", None),
            (FRIGATE, b"", None),
            (FRIGATE, b"2026-11-20/14//05.00.mp4", utc(2026, 11, 20, 14, 5, 0)), // `*` may be empty
            // Out of range.
            (FRIGATE, b"2026-13-20/14/c/05.00.mp4", None),
            (FRIGATE, b"2026-00-20/14/c/05.00.mp4", None),
            (FRIGATE, b"2026-11-00/14/c/05.00.mp4", None),
            (FRIGATE, b"2026-11-20/24/c/05.00.mp4", None),
            (FRIGATE, b"2026-11-20/14/c/60.00.mp4", None),
            (FRIGATE, b"2026-11-20/14/c/05.60.mp4", None),
            (FRIGATE, b"2026-02-30/14/c/05.00.mp4", None),
            (FRIGATE, b"2026-04-31/14/c/05.00.mp4", None),
            (FRIGATE, b"2023-02-29/00/c/00.00.mp4", None),
            (FRIGATE, b"2024-02-29/23/c/59.59.mp4", utc(2024, 2, 29, 23, 59, 59)),
            (FRIGATE, b"1900-02-29/00/c/00.00.mp4", None),
            (FRIGATE, b"2000-02-29/00/c/00.00.mp4", utc(2000, 2, 29, 0, 0, 0)),
            (FRIGATE, b"1969-12-31/23/c/59.59.mp4", Some(-1)),
            // Non-UTF-8 names.
            (
                FRIGATE,
                b"2026-11-20/14/\xff\xfe/05.00.mp4",
                utc(2026, 11, 20, 14, 5, 0),
            ),
            // `*` within components, defaults for missing fields.
            (
                "*/%Y/%m/%d/*_%H%M%S.wav",
                b"cam1/2025/03/09/front_door_071502.wav",
                utc(2025, 3, 9, 7, 15, 2),
            ),
            (
                "*/%Y/%m/%d/*_%H%M%S.wav",
                b"cam1/2025/03/09/_071502.wav",
                utc(2025, 3, 9, 7, 15, 2),
            ),
            ("*/%Y/%m/%d/*_%H%M%S.wav", b"cam1/2025/03/09/071502.wav", None),
            ("%Y/%m/%d/*.mp4", b"2025/03/09/x.mp4", utc(2025, 3, 9, 0, 0, 0)),
            ("%Y/*", b"2025/x", utc(2025, 1, 1, 0, 0, 0)),
            ("*%Y*", b"rec2025-x", utc(2025, 1, 1, 0, 0, 0)),
            // `*` backtracks: the first valid split wins.
            ("*%Y%m%d.mp4", b"cam_2_20250309.mp4", utc(2025, 3, 9, 0, 0, 0)),
            // `?`: exactly one character, never '/'.
            ("%Y/?.mp4", b"2025/a.mp4", utc(2025, 1, 1, 0, 0, 0)),
            ("%Y/?.mp4", b"2025/.mp4", None),
            ("%Y/?.mp4", b"2025/ab.mp4", None),
            ("%Y/?.mp4", "2025/é.mp4".as_bytes(), utc(2025, 1, 1, 0, 0, 0)),
            ("%Y/?.mp4", b"2025/\xe9.mp4", utc(2025, 1, 1, 0, 0, 0)),
            ("%Y?%m", b"2025/03", None),
            ("%Y?%m", b"2025_03", utc(2025, 3, 1, 0, 0, 0)),
            // `**`: zero or more whole components.
            ("**/rec_%s.mkv", b"rec_1795183500.mkv", Some(1_795_183_500)),
            ("**/rec_%s.mkv", b"a/rec_1795183500.mkv", Some(1_795_183_500)),
            ("**/rec_%s.mkv", b"a/b/c/rec_1795183500.mkv", Some(1_795_183_500)),
            ("**/rec_%s.mkv", b"a/b/c/rec_17951x83500.mkv", None),
            ("**/rec_%s.mkv", b"a/b/c/rec_.mkv", None),
            ("%Y/**/%m.mp4", b"2025/03.mp4", utc(2025, 3, 1, 0, 0, 0)),
            ("%Y/**/%m.mp4", b"2025/a/b/03.mp4", utc(2025, 3, 1, 0, 0, 0)),
            ("%Y/**/%m.mp4", b"2025x/a/03.mp4", None),
            ("%Y/%m/%d/**", b"2025/03/09", utc(2025, 3, 9, 0, 0, 0)),
            ("%Y/%m/%d/**", b"2025/03/09/a/b.mp4", utc(2025, 3, 9, 0, 0, 0)),
            ("%Y/%m/%d/**", b"2025/03/09x/b.mp4", None),
            ("**/%Y/**/x", b"a/2025/b/x", utc(2025, 1, 1, 0, 0, 0)),
            ("**/**/%Y/x", b"a/b/2025/x", utc(2025, 1, 1, 0, 0, 0)),
            // `**` backtracks past a component that is not a valid time.
            ("**/%Y/%m/x", b"2025/13/2024/05/x", utc(2024, 5, 1, 0, 0, 0)),
            // `%s`: greedy, but gives back digits when the rest needs them.
            ("%s", b"0", Some(0)),
            ("%s.mp4", b"000123.mp4", Some(123)),
            ("%s0.mp4", b"17951835000.mp4", Some(1_795_183_500)),
            ("*%s.mp4", b"cam1795183500.mp4", Some(1_795_183_500)),
            ("%s.mp4", b"99999999999999999999999.mp4", None), // overflows i64
            ("%s.mp4", b"9223372036854775807.mp4", Some(i64::MAX)),
            // `%j`.
            ("%Y/%j/%H.ts", b"2024/001/05.ts", utc(2024, 1, 1, 5, 0, 0)),
            ("%Y/%j/%H.ts", b"2024/060/00.ts", utc(2024, 2, 29, 0, 0, 0)),
            ("%Y/%j/%H.ts", b"2023/060/00.ts", utc(2023, 3, 1, 0, 0, 0)),
            ("%Y/%j/%H.ts", b"2024/366/00.ts", utc(2024, 12, 31, 0, 0, 0)),
            ("%Y/%j/%H.ts", b"2023/365/00.ts", utc(2023, 12, 31, 0, 0, 0)),
            ("%Y/%j/%H.ts", b"2023/366/00.ts", None),
            ("%Y/%j/%H.ts", b"2024/000/00.ts", None),
            ("%Y/%j/%H.ts", b"2024/367/00.ts", None),
            ("%Y/%j/%H.ts", b"2024/60/00.ts", None),
            // `%%` and literals byte for byte.
            ("100%%/%Y.mp4", b"100%/2025.mp4", utc(2025, 1, 1, 0, 0, 0)),
            ("100%%/%Y.mp4", b"100/2025.mp4", None),
            ("%Y.MP4", b"2025.mp4", None),
            ("caméra/%Y", "caméra/2025".as_bytes(), utc(2025, 1, 1, 0, 0, 0)),
        ];
        for &(p, path, want) in cases {
            assert_eq!(
                m(p, path),
                want,
                "pattern {p:?} path {:?}",
                String::from_utf8_lossy(path)
            );
        }
    }

    #[test]
    fn depth() {
        assert_eq!(pat("%Y").depth(), Some(1));
        assert_eq!(pat("*/%Y/%m/%d/*_%H%M%S.wav").depth(), Some(5));
        assert_eq!(pat("**/rec_%s.mkv").depth(), None);
        assert_eq!(pat("%Y/%m/**").depth(), None);
    }

    #[test]
    fn fixed_offsets() {
        let p = TimePattern::parse(FRIGATE, PatternZone::Fixed(2 * 3600)).unwrap();
        assert_eq!(
            p.match_path(b"2026-11-20/14/c/05.00.mp4").map(|t| t.0),
            utc(2026, 11, 20, 12, 5, 0)
        );
        let p = TimePattern::parse(FRIGATE, PatternZone::parse("-05:30").unwrap()).unwrap();
        assert_eq!(
            p.match_path(b"2026-11-20/22/c/00.00.mp4").map(|t| t.0),
            utc(2026, 11, 21, 3, 30, 0)
        );
        // `%s` ignores the zone.
        let p = TimePattern::parse("%s.mp4", PatternZone::Fixed(3600)).unwrap();
        assert_eq!(p.match_path(b"1000.mp4"), Some(Timestamp(1000)));
    }

    #[test]
    fn zone_parse() {
        let ok = [
            ("UTC", PatternZone::Utc),
            ("utc", PatternZone::Utc),
            ("Z", PatternZone::Utc),
            ("local", PatternZone::Local),
            ("Local", PatternZone::Local),
            ("+02:00", PatternZone::Fixed(7200)),
            ("-05:30", PatternZone::Fixed(-19800)),
            ("+0545", PatternZone::Fixed(20700)),
            ("+00:00", PatternZone::Fixed(0)),
            ("-03", PatternZone::Fixed(-10800)),
            (" +14:00 ", PatternZone::Fixed(50400)),
        ];
        for (s, want) in ok {
            assert_eq!(PatternZone::parse(s), Ok(want), "{s:?}");
        }
        for s in [
            "", "CET", "02:00", "+2:00", "+24:00", "+02:60", "+02:0", "+02-00", "++02:00", "+٠٢:00",
        ] {
            let e = PatternZone::parse(s).unwrap_err();
            assert!(e.contains(&format!("{s:?}")), "{s:?}: {e}");
        }
        for z in ["UTC", "local", "+02:00", "-05:30", "+00:00"] {
            assert_eq!(PatternZone::parse(z).unwrap().to_string(), z);
        }
    }

    #[test]
    fn parse_errors_name_the_token() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["empty"]),
            ("/%Y/x", &["'/'"]),
            ("%Y//x", &["empty path component"]),
            ("%Y/x/", &["empty path component"]),
            ("%Y/%q.mp4", &["\"%q\"", "unknown escape"]),
            ("%Y/%", &["lone '%'"]),
            ("%Y/a**", &["\"a**\"", "**"]),
            ("%Y/***", &["\"***\""]),
            ("**x/%Y", &["\"**x\""]),
            ("cam/*.mp4", &["%Y", "%s"]),
            ("**", &["%Y", "%s"]),
            ("%m/%d/%H", &["must contain %Y"]),
            ("%Y/%j/%m", &["%j", "%m"]),
            ("%Y/%d/%j", &["%j", "%d"]),
            ("%Y/%m/%Y", &["%Y", "more than once"]),
            ("%Y/%H%H", &["%H", "more than once"]),
            ("%s/%s", &["%s", "more than once"]),
            ("%Y/%s", &["%s", "%Y"]),
            ("*/%H_%s", &["%s", "%H"]),
        ];
        for &(p, needles) in cases {
            let e = TimePattern::parse(p, PatternZone::Utc).unwrap_err();
            assert!(e.contains(&format!("{p:?}")), "{p:?}: {e}");
            for n in needles {
                assert!(e.contains(n), "{p:?}: {e:?} should name {n:?}");
            }
        }
    }

    /// A zone like Central Europe in 2026: UTC+1, and UTC+2 from
    /// 2026-03-29T01:00Z to 2026-10-25T01:00Z.
    #[derive(Clone, Debug)]
    struct TestCet;

    impl TestCet {
        fn dst(t: i64) -> bool {
            let start = utc(2026, 3, 29, 1, 0, 0).unwrap();
            let end = utc(2026, 10, 25, 1, 0, 0).unwrap();
            (start..end).contains(&t)
        }
        fn at(secs: i32) -> FixedOffset {
            FixedOffset::east_opt(secs).unwrap()
        }
    }

    impl TimeZone for TestCet {
        type Offset = FixedOffset;
        fn from_offset(_: &FixedOffset) -> Self {
            TestCet
        }
        fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap())
        }
        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            let l = local.and_utc().timestamp();
            let summer = Self::dst(l - 7200);
            let winter = !Self::dst(l - 3600);
            match (summer, winter) {
                (true, true) => LocalResult::Ambiguous(Self::at(7200), Self::at(3600)),
                (true, false) => LocalResult::Single(Self::at(7200)),
                (false, true) => LocalResult::Single(Self::at(3600)),
                (false, false) => LocalResult::None,
            }
        }
        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_hms_opt(0, 0, 0).unwrap())
        }
        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            Self::at(if Self::dst(utc.and_utc().timestamp()) {
                7200
            } else {
                3600
            })
        }
    }

    #[test]
    fn local_dst_rules() {
        let l = |y, mo, d, h, mi| utc(y, mo, d, h, mi, 0).unwrap();
        // Winter and summer.
        assert_eq!(
            resolve_local(&TestCet, l(2026, 1, 10, 12, 0)),
            Some(l(2026, 1, 10, 11, 0))
        );
        assert_eq!(
            resolve_local(&TestCet, l(2026, 7, 10, 12, 0)),
            Some(l(2026, 7, 10, 10, 0))
        );
        // Gap: 02:00 -> 03:00 on 2026-03-29; 02:30 is read as 02:30+01:00.
        assert_eq!(
            resolve_local(&TestCet, l(2026, 3, 29, 1, 59)),
            Some(l(2026, 3, 29, 0, 59))
        );
        assert_eq!(
            resolve_local(&TestCet, l(2026, 3, 29, 2, 0)),
            Some(l(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            resolve_local(&TestCet, l(2026, 3, 29, 2, 30)),
            Some(l(2026, 3, 29, 1, 30))
        );
        assert_eq!(
            resolve_local(&TestCet, l(2026, 3, 29, 3, 0)),
            Some(l(2026, 3, 29, 1, 0))
        );
        // Fold: 03:00 -> 02:00 on 2026-10-25; 02:30 happens twice, the earlier wins.
        assert_eq!(
            resolve_local(&TestCet, l(2026, 10, 25, 2, 30)),
            Some(l(2026, 10, 25, 0, 30))
        );
        assert_eq!(
            resolve_local(&TestCet, l(2026, 10, 25, 3, 0)),
            Some(l(2026, 10, 25, 2, 0))
        );
    }

    #[test]
    fn local_zone_agrees_with_chrono() {
        use chrono::Local;
        let p = TimePattern::parse(FRIGATE, PatternZone::Local).unwrap();
        for (path, (y, mo, d, h, mi)) in [
            (b"2026-01-15/12/c/30.00.mp4", (2026, 1, 15, 12, 30)),
            (b"2026-07-15/12/c/30.00.mp4", (2026, 7, 15, 12, 30)),
        ] {
            let naive = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_opt(h, mi, 0)
                .unwrap();
            let want = Local.from_local_datetime(&naive).earliest().map(|t| t.timestamp());
            assert_eq!(p.match_path(path).map(|t| t.0), want);
        }
    }

    #[test]
    fn days_from_civil_matches_chrono() {
        for y in [-400, -1, 0, 1, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999] {
            for (mo, d) in [(1, 1), (2, 28), (3, 1), (12, 31)] {
                let want = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
                let want = (want - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days();
                assert_eq!(days_from_civil(i64::from(y), mo, d), want, "{y}-{mo}-{d}");
            }
        }
    }

    fn cam_name() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>().prop_map(|b| if b == b'/' { b'_' } else { b }), 1..8)
    }

    proptest! {
        #[test]
        fn frigate_roundtrip(
            y in 1971i32..=2100, mo in 1u32..=12, d in 1u32..=31,
            h in 0u32..24, mi in 0u32..60, s in 0u32..60, cam in cam_name(),
        ) {
            let mut path = format!("{y:04}-{mo:02}-{d:02}/{h:02}/").into_bytes();
            path.extend_from_slice(&cam);
            path.extend_from_slice(format!("/{mi:02}.{s:02}.mp4").as_bytes());
            let p = pat(FRIGATE);
            // Invalid dates (Feb 30) must give None, like chrono.
            prop_assert_eq!(p.match_path(&path).map(|t| t.0), utc(y, mo, d, h, mi, s));
        }

        #[test]
        fn yday_and_fixed_offset(secs in 0i64..4_102_444_800, off in -50_400i32..=50_400) {
            let local = DateTime::from_timestamp(secs, 0).unwrap()
                .with_timezone(&FixedOffset::east_opt(off).unwrap());
            let path = format!("{:04}/{:03}/{}", local.year(), local.ordinal(), local.format("%H%M%S.ts"));
            let p = TimePattern::parse("%Y/%j/%H%M%S.ts", PatternZone::Fixed(off)).unwrap();
            prop_assert_eq!(p.match_path(path.as_bytes()), Some(Timestamp(secs)));
        }
    }
}
