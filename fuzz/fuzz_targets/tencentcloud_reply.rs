//! SCF `Invoke` answers over arbitrary bytes: no panic; an accepted answer is JSON serde_json
//! accepts too; the strings it hands out decode or are refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfgate::backend::json_scan::unescape_with;
use scfgate::backend::tencentcloud::reply::{parse, InvokeAnswer};

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = parse(data) else { return };
    assert!(serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok(), "{:?}", String::from_utf8_lossy(data));
    let strings = match answer {
        InvokeAnswer::Value(value) => vec![value],
        InvokeAnswer::FunctionFailed { message, .. } => vec![message],
        InvokeAnswer::Refused { code, message } => vec![code, message],
    };
    for raw in strings {
        let mut text = Vec::new();
        if unescape_with(raw, |bytes| text.extend_from_slice(bytes)).is_ok() {
            assert!(std::str::from_utf8(&text).is_ok(), "decoded text is UTF-8");
        }
    }
});
