//! Which environment a request's Host names. Exactly, as DNS would: a host no environment of
//! the world has is a name that would not resolve, so the emulator answers the way dwlink's
//! client then reports a failed lookup (a config typo must fail here as it fails against the
//! real services, never reach "the only environment there is"). A bare loopback address (a
//! tool that calls the emulator by its own address) still reaches a world's only environment.

use axum::http::StatusCode;

use super::odata::error::Reply;

/// The header marking a reply that stands for a failed DNS lookup; dwlink's client turns it into
/// the error it gives for a host that does not resolve.
pub const NO_SUCH_HOST: &str = "x-dwlink-emulator-no-such-host";

/// The index of `host` among `hosts`, or the only one for a bare loopback address.
pub(crate) fn pick<'a>(
    hosts: impl ExactSizeIterator<Item = &'a str>,
    host: &str,
    what: &str,
) -> Result<usize, Reply> {
    let hosts: Vec<&str> = hosts.collect();
    if let Some(i) = hosts.iter().position(|h| *h == host) {
        return Ok(i);
    }
    if !is_loopback(host) {
        return Err(no_such_host(host, what));
    }
    if hosts.len() == 1 {
        return Ok(0);
    }
    // Called by address with several to choose from: say which names there are.
    Err(super::odata::error::not_found(format!(
        "no {what} is emulated at host `{host}`; known hosts: {}",
        hosts.join(", ")
    )))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn no_such_host(host: &str, what: &str) -> Reply {
    let mut reply = Reply::error(
        StatusCode::BAD_GATEWAY,
        "NoSuchHost",
        format!(
            "no {what} is emulated at host `{host}`: against the real services this name would not resolve"
        ),
    );
    reply.headers.push((NO_SUCH_HOST.into(), host.into()));
    reply
}
