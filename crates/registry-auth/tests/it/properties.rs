//! Properties of the scope grammar and of grants, checked on generated input.

use proptest::prelude::*;
use registry_auth::Scope;

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
        let _ = Scope::parse_list([input.as_str()]);
    }

    #[test]
    fn merged_scopes_name_each_resource_once(scopes in prop::collection::vec(scope(), 0..12)) {
        let joined: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        let merged = Scope::parse_list(joined.iter().map(String::as_str)).unwrap();
        for (i, a) in merged.iter().enumerate() {
            prop_assert!(merged[i + 1..].iter().all(|b| !a.same_resource(b)));
            // Every requested action survives the merge.
            for s in scopes.iter().filter(|s| s.same_resource(a)) {
                prop_assert!(s.actions.iter().all(|x| a.actions.contains(x)));
            }
        }
    }
}

fn grant_for(requested: Vec<Scope>, allowed: Vec<Scope>) -> Vec<Scope> {
    let server = registry_auth::AuthServer::builder()
        .authenticator(registry_auth::AnonymousOnly)
        .allow_anonymous(true)
        .authorizer(registry_auth::authorizer_fn(move |_, _| {
            let allowed = allowed.clone();
            async move { Ok(allowed) }
        }))
        .signing_key_pem_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/p256-sec1.pem"
        ))
        .issuer("i")
        .service("s")
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = registry_auth::TokenRequest::new(registry_auth::Credentials::Anonymous)
        .with_service("s")
        .with_scopes(requested);
    runtime.block_on(server.issue(request)).unwrap().granted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the authorizer answers, the token never grants more than
    /// was asked: every granted resource was requested, and every granted
    /// action was requested (or the request asked for `*`).
    #[test]
    fn grant_is_a_subset_of_the_request(
        requested in prop::collection::vec(scope(), 0..6),
        allowed in prop::collection::vec(scope(), 0..8),
    ) {
        let requested = Scope::merge(requested);
        for g in grant_for(requested.clone(), allowed.clone()) {
            let want = requested.iter().find(|r| r.same_resource(&g));
            prop_assert!(want.is_some(), "{g} was not requested");
            let want = want.unwrap();
            let have: Vec<&Scope> = allowed.iter().filter(|a| a.same_resource(&g)).collect();
            for action in &g.actions {
                prop_assert!(want.actions.iter().any(|a| a == action || a == "*"), "{action} not requested in {want}");
                prop_assert!(have.iter().any(|h| h.allows(action)), "{action} not allowed");
            }
        }
    }
}

/// An authorizer whose reasons are whatever it was given: decisions about
/// any scope, in any order, claiming any actions.
struct Claims(Vec<registry_auth::ScopeDecision>);

#[registry_auth::async_trait]
impl registry_auth::Authorizer for Claims {
    async fn authorize(
        &self,
        _: &registry_auth::Identity,
        _: &registry_auth::AccessRequest,
    ) -> Result<Vec<Scope>, registry_auth::BackendError> {
        Ok(Vec::new())
    }

    async fn decide(
        &self,
        _: &registry_auth::Identity,
        _: &registry_auth::AccessRequest,
    ) -> Result<Vec<registry_auth::ScopeDecision>, registry_auth::BackendError> {
        Ok(self.0.clone())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever decisions an authorizer returns, the token grants no more
    /// than was asked, and the response has one decision per requested
    /// scope, in order, about that scope as it was requested.
    #[test]
    fn decisions_never_widen_the_grant(
        requested in prop::collection::vec(scope(), 0..6),
        claimed in prop::collection::vec(
            (scope(), prop::collection::vec(prop_oneof!["pull", "push", "delete", "\\*"], 0..4)),
            0..8,
        ),
        echo_request in any::<bool>(),
    ) {
        let requested = Scope::merge(requested);
        // Half the time the authorizer answers about exactly the requested
        // scopes, in order (the core then takes its answer as it is).
        let claimed: Vec<registry_auth::ScopeDecision> = if echo_request {
            requested
                .iter()
                .zip(claimed.iter().map(|(_, a)| a.clone()).chain(std::iter::repeat(vec!["*".to_owned()])))
                .map(|(s, allowed)| registry_auth::ScopeDecision::new(s.clone(), allowed, registry_auth::DecidedBy::Rule(0)))
                .collect()
        } else {
            claimed
                .into_iter()
                .map(|(s, allowed)| registry_auth::ScopeDecision::new(s, allowed, registry_auth::DecidedBy::Rule(0)))
                .collect()
        };
        let server = registry_auth::AuthServer::builder()
            .authenticator(registry_auth::AnonymousOnly)
            .allow_anonymous(true)
            .authorizer(Claims(claimed))
            .signing_key_pem_file(crate::support::fixture("p256-sec1.pem"))
            .issuer("i")
            .service("s")
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let request = registry_auth::TokenRequest::new(registry_auth::Credentials::Anonymous)
            .with_service("s")
            .with_scopes(requested.clone());
        let response = runtime.block_on(server.issue(request)).unwrap();
        let asked: Vec<&Scope> = response.decisions.iter().map(|d| &d.requested).collect();
        prop_assert_eq!(asked, requested.iter().collect::<Vec<_>>());
        for g in &response.granted {
            let want = requested.iter().find(|r| r.same_resource(g));
            prop_assert!(want.is_some(), "{} was not requested", g);
            let want = want.unwrap();
            for action in &g.actions {
                prop_assert!(
                    want.actions.iter().any(|a| a == action || a == "*"),
                    "{} not requested in {}", action, want
                );
            }
        }
    }
}
