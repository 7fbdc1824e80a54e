//! Scope grammar: `Scope::parse_list` and `Scope::parse` never panic, and every
//! scope they return prints back to text that parses to the same scope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_auth::Scope;

fn check(scope: &Scope) {
    assert!(
        scope.name.len() <= Scope::MAX_NAME_LEN,
        "name longer than {} bytes: {} bytes",
        Scope::MAX_NAME_LEN,
        scope.name.len()
    );
    let text = scope.to_string();
    match Scope::parse(&text) {
        Ok(again) => assert_eq!(
            &again, scope,
            "round trip through {text:?} changed the scope"
        ),
        Err(e) => panic!("{scope:?} prints as {text:?}, which does not parse: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scopes) = Scope::parse_list([s]) {
        for scope in &scopes {
            assert!(
                !scope.actions.is_empty(),
                "parse_list kept {scope:?} without actions"
            );
            check(scope);
        }
    }
    if let Ok(scope) = Scope::parse(s) {
        check(&scope);
    }
});
