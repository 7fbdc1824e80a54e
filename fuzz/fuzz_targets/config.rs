//! Configuration text (TOML) is parsed and checked without panicking; no
//! file is read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(message) = registry_auth_server::check_config(text) {
        assert!(!message.is_empty(), "empty error message for {text:?}");
    }
});
