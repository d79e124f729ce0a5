//! TLS in front of a plaintext broker, as a hospital's cluster presents it: a certificate for
//! 127.0.0.1 issued by a CA of the test's own. tansu 0.6 takes `--cert` and `--key` but serves
//! plaintext regardless, so the tests terminate TLS here and forward each connection to it.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A CA and a server certificate it issued for `127.0.0.1`, as PEM files in a folder.
pub struct TestCa {
    /// The CA's certificate: what a client verifies the broker against.
    pub ca_pem: PathBuf,
    pub certificate_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    /// Issues a fresh CA named `name`, and a certificate for 127.0.0.1 signed by it, into `dir`.
    pub fn issue(dir: &Path, name: &str) -> io::Result<TestCa> {
        std::fs::create_dir_all(dir)?;
        let invalid = |e: rcgen::Error| io::Error::other(e.to_string());
        let ca_key = KeyPair::generate().map_err(invalid)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca_certificate = ca.self_signed(&ca_key).map_err(invalid)?;
        let key = KeyPair::generate().map_err(invalid)?;
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_string()]).map_err(invalid)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "kafka.hospital.test");
        let certificate = server
            .signed_by(&key, &ca_certificate, &ca_key)
            .map_err(invalid)?;
        let files = TestCa {
            ca_pem: dir.join(format!("{name}-ca.pem")),
            certificate_pem: dir.join(format!("{name}-broker.pem")),
            key_pem: dir.join(format!("{name}-broker.key")),
        };
        std::fs::write(&files.ca_pem, ca_certificate.pem())?;
        std::fs::write(&files.certificate_pem, certificate.pem())?;
        std::fs::write(&files.key_pem, key.serialize_pem())?;
        Ok(files)
    }
}

/// Accepts TLS on a port of its own and forwards each connection, decrypted, to `upstream`.
/// Runs on a thread and runtime of its own, so that a test's runtime blocked in a Kafka client's
/// shutdown (which waits on its broker connections) cannot stall the connections it waits on.
/// Stops when dropped.
pub struct TlsTerminator {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsTerminator {
    /// Listens on 127.0.0.1:`port` with the certificate `ca` issued.
    pub fn start(port: u16, ca: &TestCa, upstream: SocketAddr) -> io::Result<Self> {
        let certificates = CertificateDer::pem_file_iter(&ca.certificate_pem)
            .and_then(|pems| pems.collect::<Result<Vec<_>, _>>())
            .map_err(io::Error::other)?;
        let key = PrivateKeyDer::from_pem_file(&ca.key_pem).map_err(io::Error::other)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(io::Error::other)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                let accepting = async {
                    while let Ok((client, _)) = listener.accept().await {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            // A client that refuses the certificate ends its handshake here.
                            let Ok(mut client) = acceptor.accept(client).await else {
                                return;
                            };
                            if let Ok(mut broker) = TcpStream::connect(upstream).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = accepting => {}
                    _ = stopped => {}
                }
            })
        });
        Ok(TlsTerminator {
            port,
            stop: Some(stop),
        })
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
