//! The policy parser: any bytes give a policy or an error naming the file,
//! never a panic; an accepted policy's effective form parses back to the
//! same policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use retentiond::core::policy::Policy;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::from_str(Path::new("fuzz.toml"), text) {
        Ok(p) => {
            let again = Policy::from_str(Path::new("fuzz.toml"), &p.describe())
                .expect("the effective policy parses back");
            // Equal but for the first line, which names the source's digest.
            let body = |d: String| d.split_once('\n').map(|(_, b)| b.to_string()).unwrap_or_default();
            assert_eq!(body(again.describe()), body(p.describe()));
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml"), "{e}"),
    }
});
