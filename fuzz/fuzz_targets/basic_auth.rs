//! `Authorization` header parsing never panics, and never accepts a user
//! name with control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth::Credentials;

fuzz_target!(|data: &[u8]| {
    if let Ok(Credentials::Password { username, .. }) = Credentials::from_authorization(Some(data))
    {
        assert!(
            !username.chars().any(char::is_control),
            "accepted a user name with control characters: {username:?}"
        );
    }
});
