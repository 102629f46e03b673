//! TLS for any HTTP listener: a rustls acceptor from PEM files named by
//! `ssl_cert` / `ssl_key` (Rspamd 4's worker option names).
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::http::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    Pem { path: String, reason: String },
    #[error("{path}: no certificate found")]
    NoCertificate { path: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Loads the certificate chain and key and builds the acceptor (HTTP/1.1
/// announced through ALPN).
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let pem_err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |e: rustls::pki_types::pem::Error| TlsError::Pem {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(pem_err(&files.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(&files.cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.display().to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem_err(&files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
