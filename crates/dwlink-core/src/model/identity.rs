//! When two URLs name the same environment, and when two organization references name the same
//! organization: one owner for both rules, so validation, the diff, import and snapshot cannot
//! drift apart ("an imported config plans empty" depends on them agreeing).

use std::net::IpAddr;

use url::{Host, Url};

use super::live::OrgRef;

/// A host as environments are compared: lower case, IDNA (punycode — the `url` crate already
/// maps international names for http/https), no trailing dot, with its port made explicit.
pub fn host_key(url: &Url) -> Option<(String, Option<u16>)> {
    let host = url.host_str()?;
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    Some((host, url.port_or_known_default()))
}

/// The host alone, normalized as in [`host_key`]: for comparisons where the port is not part of
/// the identity (the emulator routes by `Host` name; a nextLink in emulator mode carries the
/// emulator's port).
pub fn host_name(url: &Url) -> Option<String> {
    host_key(url).map(|(host, _)| host)
}

/// Whether two URLs name the same environment (scheme, path and query do not matter).
pub fn same_host(a: &Url, b: &Url) -> bool {
    match (host_key(a), host_key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// [`same_host`] against a URL the services returned as text (not parsed yet; may be blank).
pub fn same_host_str(a: &Url, b: &str) -> bool {
    Url::parse(b.trim()).is_ok_and(|b| same_host(a, &b))
}

/// Plain `http://` is allowed only to these hosts.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.eq_ignore_ascii_case("localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Two references name the same organization: by id when both know it (a URL can be reassigned
/// to another organization), otherwise by host.
pub fn same_organization(a: &OrgRef, b: &OrgRef) -> bool {
    match (a.organization_id, b.organization_id) {
        (Some(x), Some(y)) => x == y,
        _ => same_host(&a.url, &b.url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn hosts_compare_without_case_trailing_dot_or_default_port() {
        let a = u("https://Contoso-UAT.sandbox.operations.dynamics.com/");
        assert!(same_host(
            &a,
            &u("https://contoso-uat.sandbox.operations.dynamics.com.")
        ));
        assert!(same_host(
            &a,
            &u("https://contoso-uat.sandbox.operations.dynamics.com:443/x")
        ));
        assert!(!same_host(
            &a,
            &u("https://contoso-uat.sandbox.operations.dynamics.com:8443")
        ));
        assert!(!same_host(
            &a,
            &u("https://contoso-prod.operations.dynamics.com")
        ));
    }

    #[test]
    fn host_names_drop_case_trailing_dot_and_port() {
        let want = Some("contoso-uat.crm.dynamics.com".to_string());
        assert_eq!(
            host_name(&u("https://Contoso-UAT.crm.dynamics.com.:8443/x")),
            want
        );
        assert_eq!(host_name(&u("http://contoso-uat.crm.dynamics.com")), want);
        assert!(same_host_str(
            &u("https://contoso-uat.crm.dynamics.com"),
            " https://CONTOSO-UAT.crm.dynamics.com./ "
        ));
    }

    #[test]
    fn international_hosts_compare_as_punycode() {
        assert!(same_host(
            &u("https://bücher.example/"),
            &u("https://xn--bcher-kva.example")
        ));
    }

    #[test]
    fn loopback_names() {
        assert!(is_loopback(&u("http://localhost.:8080")));
        assert!(is_loopback(&u("http://127.0.0.1")));
        assert!(is_loopback(&u("http://[::1]")));
        assert!(!is_loopback(&u("http://example.com")));
    }

    #[test]
    fn organizations_match_by_id_before_host() {
        let id = uuid::Uuid::from_u128(7);
        let a = OrgRef {
            url: u("https://a.crm.dynamics.com"),
            organization_id: Some(id),
        };
        let b = OrgRef {
            url: u("https://b.crm.dynamics.com"),
            organization_id: Some(id),
        };
        assert!(same_organization(&a, &b));
        let c = OrgRef {
            url: u("https://a.crm.dynamics.com"),
            organization_id: None,
        };
        assert!(same_organization(&a, &c));
        let d = OrgRef {
            url: u("https://a.crm.dynamics.com"),
            organization_id: Some(uuid::Uuid::from_u128(8)),
        };
        assert!(!same_organization(&a, &d));
    }
}
