//! Address blocks, as the ACL's `ip` condition and the trusted proxies
//! take them.

use std::net::IpAddr;

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses a block or a single address; the error says which text was
    /// refused.
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an address or CIDR block");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the block.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // A v4 client seen through a v6 socket is still a v4 client.
        let ip = ip.to_canonical();
        let (net, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(n.to_bits()), u128::from(i.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    fn contains(block: &str, ip: &str) -> bool {
        let block = Cidr::parse(block).unwrap_or_else(|e| panic!("{e}"));
        block.contains(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn blocks_addresses_and_mapped_v4() {
        assert!(contains("10.0.0.0/8", "10.9.8.7"));
        assert!(!contains("10.0.0.0/8", "11.0.0.1"));
        assert!(contains("127.0.0.1", "::ffff:127.0.0.1"));
        assert!(contains("2001:db8::/32", "2001:db8:1::1"));
        assert!(!contains("2001:db8::/32", "10.0.0.1"));
        assert!(contains("0.0.0.0/0", "192.0.2.1"));
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_text() {
        for bad in [
            "300.0.0.1",
            "10.0.0.0/33",
            "::/129",
            "proxy.local",
            "1.2.3.4/x",
            "",
        ] {
            assert_eq!(
                Cidr::parse(bad),
                Err(format!("{bad:?} is not an address or CIDR block"))
            );
        }
    }
}
