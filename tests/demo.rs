//! The bundled demo (`retentiond --demo`) runs a real sweep end to end.

mod common;

use common::*;

#[test]
fn demo_sweeps_a_synthetic_tree_and_explains_itself() {
    let o = retentiond(&["--demo"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "from zone cctv, reason max-age",
        "from zone calls, reason max-age",
        "\"reason\":\"max-age\"",
        "audit log OK",
        "reason capacity",
        "oldest first",
        "case DSR-2026-014 opened",
        "written before the first byte",
        "access        demo",
        "the hold is released",
    ] {
        assert!(out.contains(want), "wants {want:?}: {}", text(&o));
    }
}
