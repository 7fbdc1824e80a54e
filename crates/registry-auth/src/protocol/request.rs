//! What a client asks of the token endpoint, free of any HTTP framework.
//!
//! [`TokenRequest::from_query`] and [`TokenRequest::from_form`] turn the raw
//! query string or form body into plain values.

use std::net::IpAddr;

use super::credentials::{Credentials, Secret};
use super::error::Error;
use super::scope::Scope;

/// A parsed request for a token: everything the protocol core needs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The `service` the token is for (becomes the token's `aud`); `None`
    /// when the client did not send one or sent it empty.
    pub service: Option<String>,
    /// The requested scopes, parsed and merged.
    pub scopes: Vec<Scope>,
    /// The credentials presented.
    pub credentials: Credentials,
    /// The `account` parameter. Only ever checked against the authenticated
    /// user name, never used as an identity.
    pub account: Option<String>,
    /// The `client_id` parameter.
    pub client_id: Option<String>,
    /// Whether the client asked for an offline (refresh) token.
    pub offline_token: bool,
    /// The client's address, when the adapter knows it.
    pub client_ip: Option<IpAddr>,
}

impl TokenRequest {
    /// A request with the given credentials and nothing else set.
    pub fn new(credentials: Credentials) -> Self {
        TokenRequest {
            service: None,
            scopes: Vec::new(),
            credentials,
            account: None,
            client_id: None,
            offline_token: false,
            client_ip: None,
        }
    }

    /// Sets the service.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Adds scopes.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes = Scope::merge(self.scopes.into_iter().chain(scopes));
        self
    }

    /// Parses the query string of `GET /token` (without the leading `?`).
    ///
    /// Every `scope` parameter is read and each is split on spaces; `service`,
    /// `account`, `client_id` and `offline_token` may appear at most once;
    /// unknown parameters are ignored.
    pub fn from_query(query: &str, credentials: Credentials) -> Result<Self, Error> {
        let mut request = TokenRequest::new(credentials);
        let mut scope_values = Vec::new();
        let mut seen_offline = false;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "scope" => scope_values.push(value.into_owned()),
                "service" => set_once(&mut request.service, "service", value.into_owned())?,
                "account" => set_once(&mut request.account, "account", value.into_owned())?,
                "client_id" => set_once(&mut request.client_id, "client_id", value.into_owned())?,
                "offline_token" => {
                    if std::mem::replace(&mut seen_offline, true) {
                        return Err(duplicate("offline_token"));
                    }
                    request.offline_token = parse_bool("offline_token", &value)?;
                }
                _ => {}
            }
        }
        request.scopes = Scope::parse_list(scope_values.iter().map(String::as_str))?;
        // An empty parameter is the same as a missing one (crane sends
        // `service=` when the challenge had none).
        for field in [
            &mut request.service,
            &mut request.account,
            &mut request.client_id,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
        Ok(request)
    }
}

impl TokenRequest {
    /// Parses the form body of `POST /token` (the OAuth 2 form of the
    /// endpoint, distribution's oauth.md).
    ///
    /// `grant_type` (`password` or `refresh_token`), `service` and
    /// `client_id` are required; `scope` may be repeated and each may hold
    /// several scopes separated by spaces (containers/image repeats the
    /// field, docker joins them); `access_type=offline` asks for a refresh
    /// token.
    pub fn from_form(body: &[u8]) -> Result<Self, Error> {
        let mut fields: [Option<String>; 7] = Default::default();
        const NAMES: [&str; 7] = [
            "grant_type",
            "service",
            "client_id",
            "access_type",
            "username",
            "password",
            "refresh_token",
        ];
        let mut scope_values = Vec::new();
        for (key, value) in form_urlencoded::parse(body) {
            if key == "scope" {
                scope_values.push(value.into_owned());
            } else if let Some(i) = NAMES.iter().position(|n| *n == key) {
                set_once(&mut fields[i], NAMES[i], value.into_owned())?;
            }
        }
        let [
            grant_type,
            service,
            client_id,
            access_type,
            username,
            password,
            refresh_token,
        ] = fields.map(|f| f.filter(|v| !v.is_empty()));
        let required = |name: &str| Error::InvalidRequest(format!("{name} is required"));
        let grant_type = grant_type.ok_or_else(|| required("grant_type"))?;
        let service = service.ok_or_else(|| required("service"))?;
        let client_id = client_id.ok_or_else(|| required("client_id"))?;
        let offline_token = match access_type.as_deref() {
            None | Some("online") => false,
            Some("offline") => true,
            Some(_) => {
                return Err(Error::InvalidRequest(
                    "access_type must be online or offline".into(),
                ));
            }
        };
        let credentials = match grant_type.as_str() {
            "password" => Credentials::password(
                username.ok_or_else(|| required("username"))?,
                password.ok_or_else(|| required("password"))?,
            ),
            "refresh_token" => Credentials::RefreshToken(Secret::new(
                refresh_token.ok_or_else(|| required("refresh_token"))?,
            )),
            other => {
                return Err(Error::UnsupportedGrantType(
                    other.chars().take(40).collect(),
                ));
            }
        };
        if let Credentials::Password { username, .. } = &credentials
            && username.chars().any(char::is_control)
        {
            return Err(Error::InvalidRequest(
                "username contains control characters".into(),
            ));
        }
        Ok(TokenRequest {
            service: Some(service),
            scopes: Scope::parse_list(scope_values.iter().map(String::as_str))?,
            credentials,
            account: None,
            client_id: Some(client_id),
            offline_token,
            client_ip: None,
        })
    }
}

fn set_once(slot: &mut Option<String>, name: &str, value: String) -> Result<(), Error> {
    if slot.replace(value).is_some() {
        return Err(duplicate(name));
    }
    Ok(())
}

fn duplicate(name: &str) -> Error {
    Error::InvalidRequest(format!("parameter {name} is given more than once"))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" | "1" | "True" | "TRUE" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "" => Ok(false),
        _ => Err(Error::InvalidRequest(format!(
            "parameter {name} must be true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_form_password_and_refresh_grants() {
        let body = b"grant_type=password&service=reg&client_id=containerd-client&access_type=offline\
                     &username=alice&password=p%26w&scope=repository:a:pull&scope=repository:b:push%20repository:a:push";
        let Ok(r) = TokenRequest::from_form(body) else {
            panic!()
        };
        assert_eq!(r.credentials, Credentials::password("alice", "p&w"));
        assert_eq!(r.service.as_deref(), Some("reg"));
        assert_eq!(r.client_id.as_deref(), Some("containerd-client"));
        assert!(r.offline_token);
        assert_eq!(
            r.scopes,
            vec![
                Scope::repository("a", ["pull", "push"]),
                Scope::repository("b", ["push"])
            ]
        );
        let r = TokenRequest::from_form(
            b"grant_type=refresh_token&service=reg&client_id=docker&refresh_token=rt",
        );
        assert_eq!(
            r.map(|r| r.credentials),
            Ok(Credentials::RefreshToken(Secret::new("rt")))
        );
    }

    #[test]
    fn oauth_form_errors() {
        let cases: [(&[u8], Error); 9] = [
            (
                b"service=r&client_id=c",
                Error::InvalidRequest("grant_type is required".into()),
            ),
            (
                b"grant_type=password&client_id=c&username=u&password=p",
                Error::InvalidRequest("service is required".into()),
            ),
            (
                b"grant_type=password&service=&client_id=c&username=u&password=p",
                Error::InvalidRequest("service is required".into()),
            ),
            (
                b"grant_type=password&service=r&username=u&password=p",
                Error::InvalidRequest("client_id is required".into()),
            ),
            (
                b"grant_type=password&service=r&client_id=c&password=p",
                Error::InvalidRequest("username is required".into()),
            ),
            (
                b"grant_type=password&service=r&client_id=c&username=u",
                Error::InvalidRequest("password is required".into()),
            ),
            (
                b"grant_type=refresh_token&service=r&client_id=c",
                Error::InvalidRequest("refresh_token is required".into()),
            ),
            (
                b"grant_type=client_credentials&service=r&client_id=c",
                Error::UnsupportedGrantType("client_credentials".into()),
            ),
            (
                b"grant_type=password&grant_type=password&service=r&client_id=c",
                Error::InvalidRequest("parameter grant_type is given more than once".into()),
            ),
        ];
        for (body, error) in cases {
            assert_eq!(
                TokenRequest::from_form(body),
                Err(error),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn query_with_repeated_and_space_joined_scopes() {
        let q = "service=reg&scope=repository%3Aa%3Apull+repository%3Ab%3Apush\
                 &scope=repository:a:push&account=alice&client_id=docker&offline_token=true";
        let r = TokenRequest::from_query(q, Credentials::Anonymous);
        let Ok(r) = r else { panic!("{r:?}") };
        assert_eq!(r.service.as_deref(), Some("reg"));
        assert_eq!(r.account.as_deref(), Some("alice"));
        assert_eq!(r.client_id.as_deref(), Some("docker"));
        assert!(r.offline_token);
        assert_eq!(
            r.scopes,
            vec![
                Scope::repository("a", ["pull", "push"]),
                Scope::repository("b", ["push"])
            ]
        );
    }

    #[test]
    fn duplicate_single_parameters_are_rejected() {
        for q in [
            "service=a&service=b",
            "account=a&account=a",
            "client_id=a&client_id=b",
            "offline_token=true&offline_token=true",
        ] {
            let err = TokenRequest::from_query(q, Credentials::Anonymous).err();
            assert!(
                matches!(&err, Some(Error::InvalidRequest(m)) if m.contains("more than once")),
                "{q}: {err:?}"
            );
        }
    }

    #[test]
    fn empty_service_is_none() {
        let r = TokenRequest::from_query("service=", Credentials::Anonymous);
        assert_eq!(r.map(|r| r.service), Ok(None));
    }

    #[test]
    fn bad_offline_token_value() {
        let r = TokenRequest::from_query("offline_token=maybe", Credentials::Anonymous);
        assert_eq!(
            r,
            Err(Error::InvalidRequest(
                "parameter offline_token must be true or false".into()
            ))
        );
    }
}
