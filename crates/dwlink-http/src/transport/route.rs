//! Where requests physically go. Every message keeps the logical URL (the real service's); in
//! emulator mode the bytes go to the emulator's address with the logical host in `Host`.

use std::net::{SocketAddr, ToSocketAddrs};

use url::Url;

use dwlink_core::link::error::ProviderError;
use dwlink_core::model::identity::host_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Production: the logical URL is the physical one.
    Direct,
    /// Every host (services and the login host) is served by one emulator listener.
    Emulator { addr: SocketAddr, scheme: Scheme },
}

impl Route {
    /// For `--emulator-url URL`: `http://127.0.0.1:8080` (or `localhost`, or `https://…`).
    pub fn emulator_url(url: &Url) -> Result<Route, ProviderError> {
        let setup = |message: String| ProviderError::Setup {
            message,
            help:
                "pass the address the emulator printed, e.g. --emulator-url http://127.0.0.1:8080"
                    .into(),
        };
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(setup(format!(
                    "--emulator-url: unsupported scheme `{other}`"
                )))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| setup(format!("--emulator-url {url}: no host")))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| setup(format!("--emulator-url {url}: no port")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| setup(format!("--emulator-url {url}: {e}")))?
            .collect();
        // `localhost` often resolves to ::1 first while the emulator listens on 127.0.0.1.
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| setup(format!("--emulator-url {url}: host resolves to nothing")))?;
        let route = Route::Emulator { addr, scheme };
        route.check_emulator()?;
        Ok(route)
    }

    fn check_emulator(&self) -> Result<(), ProviderError> {
        if let Route::Emulator {
            addr,
            scheme: Scheme::Http,
        } = self
        {
            if !addr.ip().is_loopback() {
                return Err(ProviderError::Setup {
                    message: format!(
                        "refusing plain http:// to the non-loopback emulator address {addr}"
                    ),
                    help: "run the emulator on 127.0.0.1 or ::1, or serve it with --tls".into(),
                });
            }
        }
        Ok(())
    }

    /// The URL to connect to for a logical URL, and the `Host` header to send (emulator only).
    pub fn physical(&self, logical: &Url) -> Result<(Url, Option<String>), ProviderError> {
        match self {
            Route::Direct => {
                check_scheme(logical)?;
                Ok((logical.clone(), None))
            }
            Route::Emulator { addr, scheme } => {
                self.check_emulator()?;
                let host = logical.host_str().unwrap_or_default().to_string();
                let mut physical = logical.clone();
                let bad = |_| ProviderError::Setup {
                    message: format!("cannot route {logical} to the emulator at {addr}"),
                    help: "this is a bug in dwlink".into(),
                };
                physical.set_scheme(scheme.as_str()).map_err(bad)?;
                physical.set_ip_host(addr.ip()).map_err(bad)?;
                physical.set_port(Some(addr.port())).map_err(bad)?;
                Ok((physical, Some(host)))
            }
        }
    }

    /// A `@odata.nextLink` as a logical URL: it must stay on the host the request went to. In
    /// emulator mode the emulator writes the logical host with its own scheme (and maybe port),
    /// so only the host is compared and the logical scheme is put back.
    pub fn next_link(&self, current: &Url, next: &str) -> Result<Url, String> {
        let parsed = Url::parse(next)
            .or_else(|_| current.join(next))
            .map_err(|e| format!("@odata.nextLink `{}` is not a URL: {e}", shorten(next)))?;
        let same_host = host_name(&parsed).is_some() && host_name(&parsed) == host_name(current);
        if !same_host {
            return Err(format!(
                "@odata.nextLink points to another host ({}); refusing to send credentials there",
                parsed.host_str().unwrap_or("none")
            ));
        }
        match self {
            Route::Direct => {
                if parsed.scheme() != current.scheme() || parsed.port() != current.port() {
                    return Err(format!(
                        "@odata.nextLink changes scheme or port ({}://…:{:?})",
                        parsed.scheme(),
                        parsed.port()
                    ));
                }
                Ok(parsed)
            }
            Route::Emulator { .. } => {
                let mut logical = parsed;
                logical
                    .set_scheme(current.scheme())
                    .and_then(|_| logical.set_port(current.port()))
                    .map_err(|_| "@odata.nextLink cannot be mapped back".to_string())?;
                Ok(logical)
            }
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `http://` only to loopback: a token sent in clear text to anything else is a leak.
pub(crate) fn check_scheme(url: &Url) -> Result<(), ProviderError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        other => Err(ProviderError::Setup {
            message: format!(
                "refusing {other}:// to {}: only https is allowed outside loopback",
                url.host_str().unwrap_or("?")
            ),
            help:
                "use an https:// URL (plain http is only allowed to 127.0.0.1, ::1 and localhost)"
                    .into(),
        }),
    }
}

pub(crate) use dwlink_core::model::identity::is_loopback;

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn http_only_to_loopback() {
        assert!(check_scheme(&u("http://127.0.0.5:1/")).is_ok());
        assert!(check_scheme(&u("http://[::1]:1/")).is_ok());
        assert!(check_scheme(&u("http://localhost/")).is_ok());
        assert!(check_scheme(&u("http://example.com/")).is_err());
        assert!(check_scheme(&u("ftp://example.com/")).is_err());
        assert!(Route::emulator_url(&u("http://10.0.0.1:80/")).is_err());
    }

    #[test]
    fn emulator_keeps_the_logical_host_in_host_header() {
        let r = Route::emulator_url(&u("http://127.0.0.1:9000")).unwrap();
        let (p, host) = r
            .physical(&u("https://env.operations.dynamics.com/data/X?$top=1"))
            .unwrap();
        assert_eq!(p.as_str(), "http://127.0.0.1:9000/data/X?$top=1");
        assert_eq!(host.as_deref(), Some("env.operations.dynamics.com"));
    }

    #[test]
    fn next_links_stay_on_the_host() {
        let cur = u("https://env.example.com/data/X");
        let d = Route::Direct;
        assert!(d
            .next_link(&cur, "https://env.example.com/data/X?$skiptoken=2")
            .is_ok());
        assert!(d
            .next_link(&cur, "https://evil.example.com/data/X")
            .is_err());
        assert!(d.next_link(&cur, "http://env.example.com/data/X").is_err());
        assert!(d.next_link(&cur, "https://[::").is_err());
        let e = Route::emulator_url(&u("http://127.0.0.1:9000")).unwrap();
        let mapped = e
            .next_link(&cur, "http://env.example.com:9000/data/X?$skiptoken=2")
            .unwrap();
        assert_eq!(
            mapped.as_str(),
            "https://env.example.com/data/X?$skiptoken=2"
        );
        assert!(e.next_link(&cur, "http://127.0.0.1:9000/data/X").is_err());
    }

    #[test]
    fn next_link_hosts_compare_like_environments() {
        // Case and the trailing dot of a fully qualified name do not make another host.
        let cur = u("https://env.example.com./data/X");
        assert!(Route::Direct
            .next_link(&cur, "https://ENV.example.com/data/X?$skiptoken=2")
            .is_ok());
        assert!(Route::Direct
            .next_link(&cur, "https://env.example.com.evil.test/data/X")
            .is_err());
    }
}
