//! The handshake's listener gets `TCP_NODELAY` before Terraform can connect to it.
//!
//! The protocol library binds its own gRPC listener and leaves Nagle's algorithm on (tonic sets
//! `TCP_NODELAY` only on listeners it binds itself). A reply written in more than one segment
//! then waited for Terraform's delayed ACK: a `TF_LOG=trace` of one `terraform plan` on
//! 2026-12-03 showed about 40 ms on the first `GetProviderSchema`, `ValidateProviderConfig` and
//! `Close` of a provider process, five times per plan: 0.46 s for a plan now taking 0.22 s.
//!
//! Linux and macOS hand a listener's `TCP_NODELAY` to every socket it accepts, and Terraform
//! connects only once it has read the go-plugin handshake line (`1|6|tcp|ADDR|grpc|CERT`) from
//! the provider's stdout. So stdout goes through a pipe: the line is held until the listener
//! bound to ADDR has `TCP_NODELAY`, then passed on, with everything written after it.
//! If any of this fails, the line still goes out unchanged: slower, never broken.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::time::Duration;

/// A handshake line is under 1 KiB (an address and a base64 certificate); anything longer is
/// passed on as it came, unread.
const MAX_HANDSHAKE_BYTES: u64 = 16 * 1024;

/// Holds the real stdout while fd 1 is the pipe; `finish` puts it back.
pub struct Relay {
    original: OwnedFd,
    done: mpsc::Receiver<()>,
}

/// Routes fd 1 through the relay. `None` (stdout left as it was) when a pipe or a descriptor
/// cannot be had.
pub fn relay_stdout() -> Option<Relay> {
    let original = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let forward = std::fs::File::from(original.try_clone().ok()?);
    let (reader, writer) = std::io::pipe().ok()?;
    // SAFETY: both descriptors are open and owned here; dup2 replaces fd 1 atomically, so a
    // write to stdout from any thread lands either in the old stdout or in the pipe.
    if unsafe { libc::dup2(writer.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        return None;
    }
    drop(writer);
    let (done_tx, done) = mpsc::channel();
    std::thread::Builder::new()
        .name("handshake-relay".into())
        .spawn(move || {
            pass_on(reader, forward);
            let _ = done_tx.send(());
        })
        .ok()?;
    Some(Relay { original, done })
}

impl Relay {
    /// Puts the real stdout back on fd 1, which closes the pipe, and waits briefly for the
    /// relay to write out what it still holds.
    pub fn finish(self) {
        let _ = std::io::stdout().flush();
        // SAFETY: `original` is an open descriptor owned by this value.
        unsafe { libc::dup2(self.original.as_raw_fd(), libc::STDOUT_FILENO) };
        let _ = self.done.recv_timeout(Duration::from_secs(1));
    }
}

fn pass_on(reader: impl Read, mut out: impl Write) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    // On a read error the line holds what came before it, passed on as it is.
    let _ = (&mut reader)
        .take(MAX_HANDSHAKE_BYTES)
        .read_until(b'\n', &mut line);
    if let Some(addr) = handshake_address(&line) {
        set_nodelay_on_listener(addr);
    }
    let mut open = out.write_all(&line).and_then(|()| out.flush()).is_ok();
    // Drained to the end even once the real stdout is gone: a full pipe would block the next
    // write to stdout anywhere in the process.
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => open = open && out.write_all(&chunk[..n]).is_ok(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// ADDR of a go-plugin handshake line `CORE|APP|tcp|ADDR|grpc|CERT`.
fn handshake_address(line: &[u8]) -> Option<SocketAddr> {
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.trim_end().split('|');
    let (_core, _app, network, addr) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if network != "tcp" {
        return None;
    }
    addr.parse().ok()
}

/// Finds this process's stream socket bound to `addr` among its open descriptors.
fn set_nodelay_on_listener(addr: SocketAddr) -> bool {
    let Some(entries) = ["/proc/self/fd", "/dev/fd"]
        .iter()
        .find_map(|dir| std::fs::read_dir(dir).ok())
    else {
        return false;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut set = false;
    for fd in fds {
        // SAFETY: the descriptor was listed as open a moment ago and is only borrowed for the
        // socket calls below, which fail harmlessly on a descriptor that is not a socket.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let bound_here = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a == addr);
        if bound_here && socket.r#type().is_ok_and(|t| t == socket2::Type::STREAM) {
            set |= socket.set_tcp_nodelay(true).is_ok();
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_of_a_handshake_line_only() {
        assert_eq!(
            handshake_address(b"1|6|tcp|127.0.0.1:1025|grpc|MIIB\n"),
            Some("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(handshake_address(b"1|6|unix|/tmp/plugin1|grpc|\n"), None);
        assert_eq!(handshake_address(b"1|6|tcp|not an address|grpc|\n"), None);
        assert_eq!(handshake_address(b"relay something\n"), None);
        assert_eq!(handshake_address(&[0xff, b'|', b'\n']), None);
    }

    #[test]
    fn the_relay_passes_every_byte_on_after_the_listener_has_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let handshake = format!("1|6|tcp|{}|grpc|MIIB\n", listener.local_addr().unwrap());
        let later = vec![b'x'; 100_000];
        let mut input = handshake.clone().into_bytes();
        input.extend_from_slice(&later);
        let mut out = Vec::new();
        pass_on(&input[..], &mut out);
        assert_eq!(out, input);
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn a_relay_whose_stdout_is_gone_still_drains_the_pipe() {
        struct Gone;
        impl Write for Gone {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (reader, mut writer) = std::io::pipe().unwrap();
        let relay = std::thread::spawn(move || pass_on(reader, Gone));
        // More than a pipe holds: this blocks forever unless the relay keeps reading.
        writer.write_all(&vec![b'y'; 1 << 20]).unwrap();
        drop(writer);
        relay.join().unwrap();
    }

    #[test]
    fn the_listener_named_gets_nodelay_and_hands_it_to_what_it_accepts() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(set_nodelay_on_listener(listener.local_addr().unwrap()));
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
        let _client = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        let (untouched, _) = other.accept().unwrap();
        assert!(!untouched.nodelay().unwrap());
    }
}
