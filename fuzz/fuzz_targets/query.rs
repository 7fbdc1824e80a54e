//! `GET /token` query and `POST /token` form parsing never panic, and every
//! scope they return has at least one action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth::{Credentials, TokenRequest};

fn check(request: &TokenRequest) {
    for scope in &request.scopes {
        assert!(
            !scope.actions.is_empty(),
            "scope without actions: {scope:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    if let Ok(request) = TokenRequest::from_query(&query, Credentials::Anonymous) {
        check(&request);
    }
    if let Ok(request) = TokenRequest::from_form(data) {
        check(&request);
    }
});
