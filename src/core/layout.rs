//! What one recording is, and the layouts of the recorders people run.
//!
//! A zone's *unit* says what one recording is: a single file (the
//! default), a directory at a fixed depth below the root (a ZoneMinder
//! event: its video and its JPEG frames), or a group of files in one
//! directory that share a key (a call's legs, a clip with its thumbnail and
//! metadata). A unit is planned, held, sized, audited and deleted as one.
//!
//! A *preset* (`layout = "frigate"`) names the unit, include globs, time
//! source and time zone of one real recorder's storage tree; keys written
//! in the zone override what the preset sets. The presets are data here,
//! expanded by [`crate::core::policy`] through the same validation as the
//! keys an admin writes.
//!
//! Invariants: a group key is taken from a file's name alone, so every
//! member of a group lives in one directory; a directory unit's members are
//! every regular file below it.

use std::borrow::Cow;

/// What one recording of a zone is.
#[derive(Clone, Debug, Default)]
pub enum Unit {
    /// One file (the default).
    #[default]
    File,
    /// A directory `depth` components below the root, with every file in it.
    Dir {
        /// 1 for directories directly in the root.
        depth: usize,
    },
    /// The files of one directory that share a key.
    Group(Grouping),
}

impl Unit {
    /// The policy's word for it: "file", "dir" or "group".
    pub fn kind(&self) -> &'static str {
        match self {
            Unit::File => "file",
            Unit::Dir { .. } => "dir",
            Unit::Group(_) => "group",
        }
    }

    /// The unit directory's depth, for a directory unit.
    pub fn dir_depth(&self) -> Option<usize> {
        match self {
            Unit::Dir { depth } => Some(*depth),
            _ => None,
        }
    }
}

/// How a group unit's key is read from a member's name.
#[derive(Clone, Debug)]
pub enum Grouping {
    /// The name up to its first '.': `a.mp4`, `a.jpg` and `a.mp4.thumb` are one.
    Stem,
    /// The first template that matches the name gives the key; a name no
    /// template matches is a unit of its own.
    Templates(Vec<Template>),
}

impl Grouping {
    /// The key of a member called `name`.
    pub fn key<'a>(&self, name: &'a [u8]) -> Cow<'a, [u8]> {
        match self {
            Grouping::Stem => {
                let end = name
                    .iter()
                    .position(|&b| b == b'.')
                    .filter(|&p| p > 0)
                    .unwrap_or(name.len());
                Cow::Borrowed(&name[..end])
            }
            Grouping::Templates(ts) => ts
                .iter()
                .find_map(|t| t.key(name))
                .map_or(Cow::Borrowed(name), Cow::Borrowed),
        }
    }

    /// As the policy writes it.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Grouping::Stem => vec!["stem".into()],
            Grouping::Templates(ts) => ts.iter().map(|t| t.text.clone()).collect(),
        }
    }
}

/// A name template with one `{key}` capture, `*` (any run of characters)
/// and `?` (one character): `"{call}-in.*"`.
#[derive(Clone, Debug)]
pub struct Template {
    /// As written.
    pub text: String,
    re: regex::bytes::Regex,
}

impl Template {
    /// Compiles a template; exactly one `{name}` capture, no '/'.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.contains('/') {
            return Err(format!(
                "group template {text:?} must not contain '/': members share a directory"
            ));
        }
        let mut re = String::from("^");
        let mut captures = 0;
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            match c {
                '{' => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("group template {text:?}: '{{' without '}}'"))?;
                    let name = &rest[1..end];
                    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return Err(format!(
                            "group template {text:?}: {{{name}}} is not a capture name (letters, digits, '_')"
                        ));
                    }
                    captures += 1;
                    re.push_str("(.+)");
                    rest = &rest[end + 1..];
                    continue;
                }
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
            rest = &rest[c.len_utf8()..];
        }
        if captures != 1 {
            return Err(format!(
                "group template {text:?} must capture the key exactly once, as in \"{{call}}-in.*\""
            ));
        }
        re.push('$');
        let re = regex::bytes::RegexBuilder::new(&re)
            .unicode(false)
            .dot_matches_new_line(true)
            .build()
            .map_err(|e| format!("group template {text:?}: {e}"))?;
        Ok(Template {
            text: text.to_string(),
            re,
        })
    }

    /// The key of `name`, if the template matches it.
    pub fn key<'a>(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        self.re.captures(name).and_then(|c| c.get(1)).map(|m| m.as_bytes())
    }
}

/// A named layout of a real recorder: the zone keys it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// `layout = "..."`.
    pub name: &'static str,
    /// The recorder, and which of its directories the zone's `paths` name.
    pub recorder: &'static str,
    /// The usual root.
    pub root: &'static str,
    /// `unit`.
    pub unit: &'static str,
    /// `unit_depth`, for directory units.
    pub unit_depth: Option<usize>,
    /// `group`, for group units.
    pub group: &'static [&'static str],
    /// `include`.
    pub include: &'static [&'static str],
    /// `time`.
    pub time: &'static str,
    /// `time_zone`.
    pub time_zone: &'static str,
    /// A few paths of its tree, relative to the root.
    pub sample: &'static [&'static str],
    /// `source_depth`: the depth of the directory that names a recording
    /// source (a camera, a monitor), as `unit_depth` counts (1 for the
    /// directories directly in the root); 0 when the whole zone is one
    /// source (a call queue, a camera's snapshots).
    pub source_depth: usize,
    /// `stall_after`: how long a source may record nothing before
    /// `recording-stalled` is raised ("off": never, as for recorders that
    /// record on events only, where hours of silence are normal).
    pub stall_after: &'static str,
}

/// Every preset, in the order the manual lists them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "frigate",
        recorder: "Frigate 0.14+ continuous recordings",
        root: "/media/frigate/recordings",
        unit: "file",
        unit_depth: None,
        group: &[],
        include: &["*.mp4"],
        time: "%Y-%m-%d/%H/*/%M.%S.mp4",
        time_zone: "UTC",
        sample: &[
            "2026-11-20/14/front_door/05.00.mp4",
            "2026-11-20/14/front_door/05.10.mp4",
        ],
        // YYYY-MM-DD/HH/<camera>/MM.SS.mp4: the camera is the third
        // directory. Frigate writes a 10-second segment per camera
        // continuously; 2m is a dozen segments, room for its recording
        // maintainer moving segments out of its cache late, and one sweep.
        // With `record.retain.mode: motion` a quiet camera writes nothing:
        // set stall_after longer there, or "off".
        source_depth: 3,
        stall_after: "2m",
    },
    Preset {
        name: "frigate-clips",
        recorder: "Frigate snapshots (a detection's snapshot and its clean copy are one unit)",
        root: "/media/frigate/clips",
        unit: "group",
        unit_depth: None,
        group: &["{event}-clean.*", "{event}.*"],
        include: &["*.jpg", "*.png", "*.webp"],
        time: "mtime",
        time_zone: "UTC",
        sample: &[
            "front_door-1795183500.123456-k3x9ab.jpg",
            "front_door-1795183500.123456-k3x9ab-clean.png",
        ],
        // Snapshots exist only when something is detected: silence is normal.
        source_depth: 0,
        stall_after: "off",
    },
    Preset {
        name: "zoneminder-medium",
        recorder: "ZoneMinder events, \"medium\" storage scheme (an event directory is one unit)",
        root: "/var/cache/zoneminder/events",
        unit: "dir",
        unit_depth: Some(3),
        group: &[],
        include: &[],
        time: "mtime",
        time_zone: "local",
        sample: &[
            "1/2026-11-20/4711/4711-video.mp4",
            "1/2026-11-20/4711/00001-capture.jpg",
            "1/2026-11-20/4711/snapshot.jpg",
        ],
        // <monitor id>/<date>/<event id>/: the monitor is the first
        // directory. Off: in Modect (the common mode) a monitor writes
        // nothing while nothing moves; for Record or Mocord monitors set
        // stall_after = "30m", three of ZoneMinder's default 600 s sections.
        source_depth: 1,
        stall_after: "off",
    },
    Preset {
        name: "zoneminder-deep",
        recorder: "ZoneMinder events, \"deep\" storage scheme (the time directory is one unit)",
        root: "/var/cache/zoneminder/events",
        unit: "dir",
        unit_depth: Some(7),
        group: &[],
        include: &[],
        time: "*/%y/%m/%d/%H/%M/%S",
        time_zone: "local",
        sample: &[
            "1/26/11/20/14/05/00/00001-capture.jpg",
            "1/26/11/20/14/05/00/4711-video.mp4",
        ],
        // <monitor id>/yy/mm/dd/HH/MM/SS/: as zoneminder-medium.
        source_depth: 1,
        stall_after: "off",
    },
    Preset {
        name: "zoneminder-shallow",
        recorder: "ZoneMinder events, \"shallow\" storage scheme",
        root: "/var/cache/zoneminder/events",
        unit: "dir",
        unit_depth: Some(2),
        group: &[],
        include: &[],
        time: "mtime",
        time_zone: "local",
        sample: &["1/4711/00001-capture.jpg", "1/4711/4711-video.mp4"],
        // <monitor id>/<event id>/: as zoneminder-medium.
        source_depth: 1,
        stall_after: "off",
    },
    Preset {
        name: "asterisk",
        recorder: "Asterisk/FreePBX call recordings (a call's legs are one unit)",
        root: "/var/spool/asterisk/monitor",
        unit: "group",
        unit_depth: None,
        group: &["{call}-in.*", "{call}-out.*", "{call}.*"],
        include: &["*.wav", "*.WAV", "*.gsm", "*.mp3", "*.ogg", "*.wav49"],
        time: "*/*/*/*-%Y%m%d-%H%M%S-*",
        time_zone: "local",
        sample: &[
            "2026/11/20/out-5551234-201-20261120-140500-1795183500.17.wav",
            "2026/11/20/in-201-5551234-20261120-141000-1795183800.18-in.wav",
            "2026/11/20/in-201-5551234-20261120-141000-1795183800.18-out.wav",
        ],
        // One queue per zone; a quiet night or a holiday has no calls.
        source_depth: 0,
        stall_after: "off",
    },
    Preset {
        name: "motioneye",
        recorder: "motionEye (a movie and its .thumb are one unit)",
        root: "/var/lib/motioneye",
        unit: "group",
        unit_depth: None,
        group: &["stem"],
        include: &["*.mp4", "*.mkv", "*.avi", "*.jpg", "*.thumb"],
        time: "*/%Y-%m-%d/%H-%M-%S*",
        time_zone: "local",
        sample: &[
            "Camera1/2026-11-20/14-05-00.mp4",
            "Camera1/2026-11-20/14-05-00.mp4.thumb",
        ],
        // <camera>/<date>/: motionEye records movies on motion by default.
        source_depth: 1,
        stall_after: "off",
    },
    Preset {
        name: "motion",
        recorder: "motion with its default file names (%v-%Y%m%d%H%M%S)",
        root: "/var/lib/motion",
        unit: "file",
        unit_depth: None,
        group: &[],
        include: &["*.mkv", "*.mp4", "*.avi", "*.jpg"],
        time: "mtime",
        time_zone: "local",
        sample: &["12-20261120140500.mkv", "12-20261120140501-01.jpg"],
        // Movies of every camera in one directory, named by event number,
        // not camera; motion records on motion only.
        source_depth: 0,
        stall_after: "off",
    },
    Preset {
        name: "shinobi",
        recorder: "Shinobi videos (videos/<group key>/<monitor id>/)",
        root: "/home/Shinobi/videos",
        unit: "file",
        unit_depth: None,
        group: &[],
        include: &["*.mp4", "*.webm", "*.mkv"],
        time: "*/*/%Y-%m-%dT%H-%M-%S.*",
        time_zone: "local",
        sample: &["Xk3s9/front/2026-11-20T14-05-00.mp4"],
        // <group key>/<monitor id>/: the monitor is the second directory.
        // Off: a monitor in "Watch-Only" with motion recording writes only
        // on events; for monitors in "Record" mode set stall_after to three
        // times their segment length (15 min by default: "45m").
        source_depth: 2,
        stall_after: "off",
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The number of '/'-separated components of a relative path.
pub fn depth(rel: &[u8]) -> usize {
    rel.split(|&b| b == b'/').filter(|c| !c.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stem_groups_sidecars() {
        let g = Grouping::Stem;
        assert_eq!(&*g.key(b"14-05-00.mp4"), b"14-05-00");
        assert_eq!(&*g.key(b"14-05-00.mp4.thumb"), b"14-05-00");
        assert_eq!(&*g.key(b"noext"), b"noext");
        assert_eq!(&*g.key(b".hidden"), b".hidden");
    }

    #[test]
    fn templates_take_the_first_match() {
        let p = preset("asterisk").unwrap();
        let g = Grouping::Templates(p.group.iter().map(|t| Template::parse(t).unwrap()).collect());
        let call = b"in-201-5551234-20261120-141000-1795183800.18";
        assert_eq!(&*g.key(b"in-201-5551234-20261120-141000-1795183800.18-in.wav"), call);
        assert_eq!(&*g.key(b"in-201-5551234-20261120-141000-1795183800.18-out.wav"), call);
        assert_eq!(&*g.key(b"in-201-5551234-20261120-141000-1795183800.18.wav"), call);
        let f = preset("frigate-clips").unwrap();
        let g = Grouping::Templates(f.group.iter().map(|t| Template::parse(t).unwrap()).collect());
        let ev = b"front-1795183500.123456-k3x9ab";
        assert_eq!(&*g.key(b"front-1795183500.123456-k3x9ab-clean.png"), ev);
        assert_eq!(&*g.key(b"front-1795183500.123456-k3x9ab.jpg"), ev);
    }

    #[test]
    fn bad_templates_are_refused() {
        for (t, msg) in [
            ("{a}-{b}.wav", "exactly once"),
            ("nokey.wav", "exactly once"),
            ("dir/{a}.wav", "'/'"),
            ("{a b}.wav", "capture name"),
            ("{a.wav", "without"),
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(e.contains(msg), "{t}: {e}");
        }
        // Regex metacharacters are literals.
        let t = Template::parse("{k}.(1)+").unwrap();
        assert_eq!(t.key(b"x.(1)+"), Some(&b"x"[..]));
        assert_eq!(t.key(b"x.11"), None);
    }

    /// Each preset's source directory is a directory of its sample tree.
    #[test]
    fn source_depth_names_a_directory_of_the_sample() {
        for p in PRESETS {
            for path in p.sample {
                assert!(p.source_depth < depth(path.as_bytes()), "{}: {path}", p.name);
            }
        }
        let f = preset("frigate").unwrap();
        let cam = f.sample[0].split('/').nth(f.source_depth - 1).unwrap();
        assert_eq!(cam, "front_door");
        let s = preset("shinobi").unwrap();
        assert_eq!(s.sample[0].split('/').nth(s.source_depth - 1).unwrap(), "front");
    }

    #[test]
    fn depth_counts_components() {
        assert_eq!(depth(b""), 0);
        assert_eq!(depth(b"a"), 1);
        assert_eq!(depth(b"a/b/c"), 3);
    }
}
