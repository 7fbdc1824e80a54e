//! The client's address behind trusted proxies: `X-Forwarded-For` read
//! from the right, past the proxies the operator trusts, and no further
//! than the first hop that cannot be read (never a guess past it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;

/// The client of a request that came from `peer` with these
/// `X-Forwarded-For` values (in header order): `peer` itself unless it is
/// a trusted proxy; else the rightmost hop that is not a trusted proxy,
/// or the last one read before a hop that cannot be read.
pub(crate) fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.rev() {
        let Ok(value) = std::str::from_utf8(value) else {
            return client;
        };
        for hop in value.split(',').rev() {
            match parse_hop(hop) {
                Some(ip) if is_trusted(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
    }
    client
}

/// One hop: an address, optionally with a port as proxies write it
/// (`192.0.2.1:5678`, `[2001:db8::1]:443`). Anything else (`unknown`, an
/// obfuscated RFC 7239 name, junk) is `None`.
pub(crate) fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    let (address, port) = match hop.strip_prefix('[') {
        Some(bracketed) => {
            let (v6, rest) = bracketed.split_once(']')?;
            let port = match rest {
                "" => None,
                _ => Some(rest.strip_prefix(':')?),
            };
            (IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?), port)
        }
        None => {
            let (v4, port) = hop.split_once(':')?;
            (IpAddr::V4(v4.parse::<Ipv4Addr>().ok()?), Some(port))
        }
    };
    match port {
        Some(port) if port.parse::<u16>().is_err() || !port.bytes().all(|b| b.is_ascii_digit()) => {
            None
        }
        _ => Some(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn proxies(list: &[&str]) -> Vec<Cidr> {
        list.iter()
            .map(|p| Cidr::parse(p).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn client(peer: &str, headers: &[&str], trusted: &[&str]) -> IpAddr {
        let values: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
        client_address(ip(peer), values.into_iter(), &proxies(trusted))
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        assert_eq!(
            client("192.0.2.1", &["203.0.113.9"], &[]),
            ip("192.0.2.1"),
            "header ignored"
        );
        let lb = ["10.0.0.0/8"];
        assert_eq!(
            client("10.0.0.2", &["203.0.113.9, 10.0.0.7"], &lb),
            ip("203.0.113.9"),
            "rightmost untrusted hop"
        );
        assert_eq!(
            client("10.0.0.2", &["198.51.100.1", "203.0.113.9"], &lb),
            ip("203.0.113.9"),
            "last header first"
        );
        assert_eq!(
            client("10.0.0.2", &["203.0.113.9, junk, 10.0.0.7"], &lb),
            ip("10.0.0.7"),
            "no guess past junk"
        );
        assert_eq!(client("10.0.0.2", &[], &lb), ip("10.0.0.2"), "no header");
    }

    #[test]
    fn hops_with_ports_are_read() {
        let lb = ["10.0.0.0/8", "fd00::/8"];
        for (hop, expected) in [
            ("203.0.113.9:5678", "203.0.113.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            (" 2001:db8::2 ", "2001:db8::2"),
        ] {
            assert_eq!(
                client("10.0.0.2", &[&format!("{hop}, 10.0.0.7:80")], &lb),
                ip(expected),
                "{hop}"
            );
        }
        for junk in [
            "unknown",
            "_hidden",
            "203.0.113.9:",
            "203.0.113.9:99999",
            "203.0.113.9:+80",
            "[2001:db8::1]80",
            "[2001:db8::1",
            "[203.0.113.9]:80",
            "2001:db8::1:80:x",
        ] {
            assert_eq!(parse_hop(junk), None, "{junk}");
            assert_eq!(
                client("10.0.0.2", &[&format!("{junk}, 10.0.0.7")], &lb),
                ip("10.0.0.7"),
                "{junk}: no guess past it"
            );
        }
    }
}
