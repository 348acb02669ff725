//! The hold store loader: any file content gives holds or an error naming
//! the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use retentiond::state::holdstore::parse;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = parse(Path::new("/fuzz/holds.json"), text) {
        assert!(e.to_string().contains("/fuzz/holds.json"), "{e}");
    }
});
