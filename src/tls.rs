//! The certificates mentiond trusts for HTTPS sources and SMTP over TLS: the system's bundle
//! (`ca-certificates`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), and the Mozilla roots built into
//! the binary when the system has none. A host without a CA bundle (a minimal container, a
//! fresh chroot) would otherwise refuse every TLS connection, or, as before, refuse to start.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// The crypto provider rustls uses for every TLS connection. Installing it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Which roots a TLS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsOrigin {
    /// The system's bundle, with this many certificates.
    System(usize),
    /// The system has none: the Mozilla roots compiled into mentiond.
    Bundled,
}

/// The system's certificates, loaded once per process (the bundle is read from disk and parsed;
/// a reload does not need to do it again).
fn system_certificates() -> &'static [CertificateDer<'static>] {
    static CERTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    CERTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "a system certificate location could not be read");
        }
        found.certs
    })
}

/// The roots to trust, and where they came from.
pub fn roots() -> (RootCertStore, RootsOrigin) {
    let mut store = RootCertStore::empty();
    let (added, _unparsable) = store.add_parsable_certificates(system_certificates().to_vec());
    if added > 0 {
        return (store, RootsOrigin::System(added));
    }
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    (store, RootsOrigin::Bundled)
}

/// Where the roots [`roots`] returns come from, without building the store.
pub fn origin() -> RootsOrigin {
    static ORIGIN: OnceLock<RootsOrigin> = OnceLock::new();
    *ORIGIN.get_or_init(|| roots().1)
}

/// Logs, once per process, that the bundled roots are in use and how to use the system's.
pub fn warn_if_bundled(origin: RootsOrigin) {
    static WARNED: OnceLock<()> = OnceLock::new();
    if origin == RootsOrigin::Bundled && WARNED.set(()).is_ok() {
        tracing::warn!(
            "no CA certificates found on this system (install the ca-certificates package, or \
             set SSL_CERT_FILE to a PEM bundle); trusting the Mozilla roots built into mentiond"
        );
    }
}

/// A rustls client configuration trusting [`roots`].
pub fn client_config() -> (rustls::ClientConfig, RootsOrigin) {
    install_crypto_provider();
    let (roots, origin) = roots();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (config, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_always_roots_to_trust() {
        let (store, origin) = roots();
        assert!(!store.is_empty());
        match origin {
            RootsOrigin::System(n) => assert_eq!(n, store.len()),
            RootsOrigin::Bundled => assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len()),
        }
    }
}
