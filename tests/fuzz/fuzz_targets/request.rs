//! The control socket's request decoder: any line gives a request or an
//! error, never a panic; a decoded request encodes, and that decodes to a
//! request needing the same role. (Byte equality is not asked of free
//! JSON values: serde_json does not round-trip every float exactly.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use retentiond::control::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode(data) {
        let line = serde_json::to_vec(&req).expect("a request encodes");
        let back = decode(&line).expect("an encoded request decodes");
        assert_eq!(back.needs(), req.needs());
    }
});
