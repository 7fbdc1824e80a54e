use super::*;

fn rules(toml_like: &[(&str, &[&str])]) -> Acl {
    // Each rule given as a JSON object of conditions and its actions.
    let specs: Vec<Rule> = toml_like
        .iter()
        .map(|(conditions, actions)| Rule {
            conditions: serde_json::from_str(conditions)
                .unwrap_or_else(|e| panic!("{conditions}: {e}")),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            comment: None,
        })
        .collect();
    match Acl::new(&specs) {
        Ok(acl) => acl,
        Err(e) => panic!("{e}"),
    }
}

fn decide(
    acl: &Acl,
    who: &Identity,
    scope: &str,
    ip: Option<&str>,
) -> (Option<usize>, Vec<String>) {
    let mut req = AccessRequest::new(
        "registry.test",
        vec![Scope::parse(scope).unwrap_or_else(|e| panic!("{e}"))],
    );
    req.client_ip = ip.and_then(|i| i.parse().ok());
    let d = acl.evaluate(who, &req).remove(0);
    let rule = match d.decided_by {
        DecidedBy::Rule(index) => Some(index),
        DecidedBy::NoRule => None,
        other => panic!("an ACL decides by rule, not {other:?}"),
    };
    (rule, d.allowed)
}

fn user(name: &str) -> Identity {
    Identity::new(name)
}

/// docker_auth's reference ACL, in order.
fn reference() -> Acl {
    rules(&[
        (r#"{"account": "admin"}"#, &["*"]),
        (r#"{"account": "user"}"#, &["pull"]),
        (r#"{"account": "/.+/", "name": "${account}/*"}"#, &["*"]),
        (
            r#"{"account": "/.+/", "type": "registry", "name": "catalog"}"#,
            &[],
        ),
        (r#"{"account": "/.+/"}"#, &["pull"]),
        (r#"{"account": "", "name": "hello-world"}"#, &["pull"]),
    ])
}

#[test]
fn docker_auth_reference_rules() {
    let acl = reference();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    assert_eq!(
        decide(&acl, &user("admin"), "repository:x/y:push", None),
        (Some(0), s(&["*"]))
    );
    assert_eq!(
        decide(&acl, &user("admin"), "registry:catalog:*", None),
        (Some(0), s(&["*"]))
    );
    assert_eq!(
        decide(&acl, &user("user"), "repository:user/y:push", None),
        (Some(1), s(&["pull"]))
    );
    assert_eq!(
        decide(&acl, &user("bob"), "repository:bob/app:push", None),
        (Some(2), s(&["*"]))
    );
    assert_eq!(
        decide(&acl, &user("bob"), "repository:bob/a/b:push", None),
        (Some(4), s(&["pull"]))
    );
    assert_eq!(
        decide(&acl, &user("bob"), "repository:alice/app:push", None),
        (Some(4), s(&["pull"]))
    );
    // An explicit [] denies and stops the search (rule 5 would allow pull).
    assert_eq!(
        decide(&acl, &user("bob"), "registry:catalog:*", None),
        (Some(3), s(&[]))
    );
    assert_eq!(
        decide(
            &acl,
            &Identity::anonymous(),
            "repository:hello-world:pull",
            None
        ),
        (Some(5), s(&["pull"]))
    );
    assert_eq!(
        decide(&acl, &Identity::anonymous(), "repository:other:pull", None),
        (None, s(&[]))
    );
    assert!(acl.allows_anonymous());
}

#[test]
fn rules_without_account_never_match_anonymous() {
    let acl = rules(&[(r#"{"name": "team/*"}"#, &["push", "pull"])]);
    assert_eq!(
        decide(&acl, &Identity::anonymous(), "repository:team/x:pull", None).0,
        None
    );
    assert_eq!(
        decide(&acl, &user("u"), "repository:team/x:pull", None).0,
        Some(0)
    );
    assert!(!acl.allows_anonymous());
    // A pattern that matches "" does include anonymous.
    let acl = rules(&[(r#"{"account": "*", "name": "pub/*"}"#, &["pull"])]);
    assert!(acl.allows_anonymous());
    assert_eq!(
        decide(&acl, &Identity::anonymous(), "repository:pub/x:pull", None).0,
        Some(0)
    );
}

#[test]
fn labels_and_label_placeholders() {
    let acl = rules(&[
        (r#"{"labels": {"groups": "admins"}}"#, &["*"]),
        (r#"{"name": "${labels:project}/*"}"#, &["pull", "push"]),
    ]);
    let admin = user("a").with_attribute("groups", ["dev", "admins"]);
    let dev = user("d").with_attribute("project", ["web", "api"]);
    assert_eq!(decide(&acl, &admin, "repository:x:delete", None).0, Some(0));
    assert_eq!(decide(&acl, &dev, "repository:api/x:push", None).0, Some(1));
    assert_eq!(decide(&acl, &dev, "repository:db/x:push", None).0, None);
    assert_eq!(
        decide(&acl, &user("n"), "repository:web/x:push", None).0,
        None
    );
}

/// A label with more values than a pattern may expand to: the rule is not
/// decided on a subset (a deny rule would then fail open), it denies.
#[test]
fn label_expansion_past_its_cap_denies() {
    let acl = rules(&[
        (r#"{"name": "${labels:frozen}/*"}"#, &[]),
        (r#"{"account": "/.+/"}"#, &["pull", "push"]),
    ]);
    let teams = |n: usize| (0..n).map(|i| format!("team{i}")).collect::<Vec<_>>();
    let at_cap = user("u").with_attribute("frozen", teams(64));
    assert_eq!(
        decide(&acl, &at_cap, "repository:team63/x:push", None),
        (Some(0), vec![]),
        "the 64th value still denies"
    );
    assert_eq!(
        decide(&acl, &at_cap, "repository:other/x:push", None),
        (Some(1), vec!["pull".to_owned(), "push".to_owned()])
    );
    let past_cap = user("u").with_attribute("frozen", teams(65));
    for repository in ["team64/x", "other/x"] {
        assert_eq!(
            decide(
                &acl,
                &past_cap,
                &format!("repository:{repository}:push"),
                None
            ),
            (Some(0), vec![]),
            "{repository}: denied by the rule that cannot be decided"
        );
    }
    // A rule that another condition rules out does not deny.
    let acl = rules(&[
        (r#"{"name": "${labels:frozen}/*", "type": "registry"}"#, &[]),
        (r#"{"account": "/.+/"}"#, &["pull"]),
    ]);
    assert_eq!(
        decide(&acl, &past_cap, "repository:other/x:pull", None),
        (Some(1), vec!["pull".to_owned()])
    );
}

#[test]
fn ip_blocks() {
    let acl = rules(&[
        (r#"{"ip": "127.0.0.1"}"#, &["pull"]),
        (r#"{"ip": ["10.0.0.0/8", "2001:db8::/32"]}"#, &["push"]),
    ]);
    let u = user("u");
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", Some("127.0.0.1")).0,
        Some(0)
    );
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", Some("::ffff:127.0.0.1")).0,
        Some(0)
    );
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", Some("10.9.8.7")).0,
        Some(1)
    );
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", Some("2001:db8:1::1")).0,
        Some(1)
    );
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", Some("11.0.0.1")).0,
        None
    );
    assert_eq!(
        decide(&acl, &u, "repository:x:pull", None).0,
        None,
        "unknown address matches no ip rule"
    );
}

#[test]
fn service_and_type_conditions() {
    let acl = rules(&[
        (r#"{"service": "other"}"#, &["*"]),
        (
            r#"{"type": "repository", "name": "/lib(rary)?\\/.+/"}"#,
            &["pull"],
        ),
    ]);
    assert_eq!(
        decide(&acl, &user("u"), "repository:library/x:push", None).0,
        Some(1)
    );
    assert_eq!(
        decide(&acl, &user("u"), "repository:lib/x:push", None).0,
        Some(1)
    );
    assert_eq!(decide(&acl, &user("u"), "plugin:lib/x:push", None).0, None);
}

#[test]
fn first_match_wins_across_the_account_index() {
    // Rule order must hold between indexed (exact account) and general rules.
    let acl = rules(&[
        (r#"{"name": "x"}"#, &["pull"]),
        (r#"{"account": "alice"}"#, &["*"]),
        (r#"{"account": "alice", "name": "y"}"#, &[]),
    ]);
    assert_eq!(
        decide(&acl, &user("alice"), "repository:x:push", None).0,
        Some(0)
    );
    assert_eq!(
        decide(&acl, &user("alice"), "repository:y:push", None).0,
        Some(1)
    );
    assert_eq!(
        decide(&acl, &user("bob"), "repository:y:push", None).0,
        None
    );
}

#[test]
fn bad_rules_are_named() {
    let bad = |conditions: &str, actions: &[&str]| {
        let spec = Rule {
            conditions: serde_json::from_str(conditions).unwrap_or_default(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            comment: None,
        };
        Acl::new(&[Rule::default(), spec])
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        bad("{}", &["Pull"]).as_deref(),
        Some("acl rule 2: action \"Pull\" is not an action name (lowercase letters) or *")
    );
    assert_eq!(
        bad(r#"{"ip": "10.0.0.0/33"}"#, &[]).as_deref(),
        Some("acl rule 2: ip: \"10.0.0.0/33\" is not an address or CIDR block")
    );
    assert!(
        bad(r#"{"name": "/a(/"}"#, &[])
            .is_some_and(|e| e.starts_with("acl rule 2: name: bad regular expression"))
    );
}
