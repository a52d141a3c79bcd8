//! `--tls`: a throwaway CA and a leaf certificate for 127.0.0.1, localhost and every emulated
//! host, generated at start (pure Rust: rcgen + rustls with ring). The CA is written as
//! `ca.pem` so clients can trust it.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use dwlink_core::diag::Problem;

pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
}

fn problem(what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::error("dwlink::emulator::tls", format!("{what}: {e}"))
}

pub(crate) fn generate(hosts: &[String], dir: &Path) -> Result<Tls, Problem> {
    let ca_key = KeyPair::generate().map_err(|e| problem("cannot make the CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| problem("CA", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dwlink emulator CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| problem("cannot sign the CA", e))?;
    let issuer = Issuer::new(ca, ca_key);

    let mut names = vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "login.microsoftonline.com".to_string(),
    ];
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let leaf_key = KeyPair::generate().map_err(|e| problem("cannot make the server key", e))?;
    let mut leaf = CertificateParams::new(names)
        .map_err(|e| problem("a host name is not valid in a certificate", e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "dwlink emulator");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| problem("cannot sign the server certificate", e))?;

    dwlink_core::fsutil::create_private_dir(dir)
        .map_err(|e| problem(&format!("cannot create {}", dir.display()), e))?;
    let ca_pem = ca_cert.pem();
    let ca_path = dir.join("ca.pem");
    dwlink_core::fsutil::write_atomic(
        &ca_path,
        ca_pem.as_bytes(),
        dwlink_core::fsutil::Access::Shared,
    )
    .map_err(|e| problem(&format!("cannot write {}", ca_path.display()), e))?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| problem("TLS", e))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| problem("TLS certificate", e))?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem,
    })
}
