//! Properties of the scope grammar and of grants, checked on generated input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use registry_auth::{Scope, parse_scopes};

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,5}([._-][a-z0-9]{1,5}){0,2}"
}

fn scope() -> impl Strategy<Value = Scope> {
    (
        prop_oneof!["repository", "registry", "plugin"],
        prop::collection::vec(component(), 1..4),
        prop::collection::vec(prop_oneof!["pull", "push", "delete", "\\*"], 1..4),
    )
        .prop_map(|(t, parts, actions)| Scope::new(t, parts.join("/"), actions))
}

proptest! {
    #[test]
    fn display_then_parse_is_identity(s in scope()) {
        prop_assert_eq!(Scope::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn a_host_prefix_is_dropped(s in scope(), port in 1u16..65535) {
        let with_host = format!("{}:LocalHost:{port}/{}:{}", s.resource_type, s.name, s.actions.join(","));
        prop_assert_eq!(Scope::parse(&with_host).map(|p| p.name), Ok(s.name));
    }

    #[test]
    fn parsing_never_panics(input in "\\PC{0,300}") {
        let _ = parse_scopes([input.as_str()]);
    }

    #[test]
    fn merged_scopes_name_each_resource_once(scopes in prop::collection::vec(scope(), 0..12)) {
        let joined: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        let merged = parse_scopes(joined.iter().map(String::as_str)).unwrap();
        for (i, a) in merged.iter().enumerate() {
            prop_assert!(merged[i + 1..].iter().all(|b| !a.same_resource(b)));
            // Every requested action survives the merge.
            for s in scopes.iter().filter(|s| s.same_resource(a)) {
                prop_assert!(s.actions.iter().all(|x| a.actions.contains(x)));
            }
        }
    }
}
