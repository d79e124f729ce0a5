//! How every Kafka client of the service connects to the hospital's cluster: the bootstrap
//! servers, and the security protocol with its SASL credentials and TLS files. The consumer, the
//! dead-letter and notice producers, topic creation and the readiness probe all start from
//! [`KafkaConnection::client_config`], so a secured cluster is configured once, in one place.

use std::fmt;
use std::path::PathBuf;

use rdkafka::config::ClientConfig;
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KafkaConfigError {
    #[error("kafka.brokers is empty")]
    NoBrokers,
    #[error(
        "kafka.security.protocol = \"{0}\" authenticates with SASL: set [kafka.security.sasl]"
    )]
    SaslMissing(SecurityProtocol),
    #[error("[kafka.security.sasl] is set but kafka.security.protocol = \"{0}\" does not use SASL: set it to \"sasl_ssl\"")]
    SaslUnused(SecurityProtocol),
    #[error("[kafka.security.tls] is set but kafka.security.protocol = \"{0}\" does not use TLS: set it to \"ssl\" or \"sasl_ssl\"")]
    TlsUnused(SecurityProtocol),
    #[error("kafka.security.tls: certificate_location and key_location go together")]
    HalfAClientCertificate,
    #[error("kafka.security.tls: key_password is set but key_location is not")]
    KeyPasswordWithoutKey,
}

/// Where the cluster is and how to authenticate to it: `kafka.brokers` and `[kafka.security]`.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// librdkafka's `bootstrap.servers`: `host:port`, comma-separated.
    pub brokers: String,
    pub security: Security,
}

/// `[kafka.security]`. The default is plaintext without authentication: a local broker.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub protocol: SecurityProtocol,
    /// Required with `sasl_plaintext` and `sasl_ssl`, refused otherwise.
    #[serde(default)]
    pub sasl: Option<Sasl>,
    /// Only with `ssl` and `sasl_ssl`; absent there, brokers are verified against the system's
    /// trust store and no client certificate is offered.
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// librdkafka's `security.protocol`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_librdkafka(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_librdkafka())
    }
}

/// `[kafka.security.sasl]`: a username and password (the password best given as
/// `PEER_OUTREACH__KAFKA__SECURITY__SASL__PASSWORD`, not in a file).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

/// The SASL mechanisms this build supports. GSSAPI (Kerberos) would need librdkafka built
/// against Cyrus SASL, and OAUTHBEARER a token provider; neither is built in.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn as_librdkafka(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `[kafka.security.tls]`: PEM files.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The CA certificates the brokers' certificates must chain to (a hospital's internal CA);
    /// absent: the system's trust store. Brokers are always verified, host name included.
    #[serde(default)]
    pub ca_location: Option<PathBuf>,
    /// A client certificate and its key, for clusters that authenticate clients by certificate.
    #[serde(default)]
    pub certificate_location: Option<PathBuf>,
    #[serde(default)]
    pub key_location: Option<PathBuf>,
    #[serde(default)]
    pub key_password: Option<String>,
}

impl KafkaConnection {
    /// A broker on a trusted network, without TLS or authentication: local runs and tests.
    pub fn plaintext(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            security: Security::default(),
        }
    }

    /// Refuses settings that librdkafka would reject only at the first connection, or that
    /// would silently go unused (credentials set for a protocol that never sends them).
    pub fn validate(&self) -> Result<(), KafkaConfigError> {
        let Security {
            protocol,
            sasl,
            tls,
        } = &self.security;
        if self.brokers.trim().is_empty() {
            return Err(KafkaConfigError::NoBrokers);
        }
        match (protocol.uses_sasl(), sasl.is_some()) {
            (true, false) => return Err(KafkaConfigError::SaslMissing(*protocol)),
            (false, true) => return Err(KafkaConfigError::SaslUnused(*protocol)),
            _ => {}
        }
        if let Some(tls) = tls {
            if !protocol.uses_tls() {
                return Err(KafkaConfigError::TlsUnused(*protocol));
            }
            if tls.certificate_location.is_some() != tls.key_location.is_some() {
                return Err(KafkaConfigError::HalfAClientCertificate);
            }
            if tls.key_password.is_some() && tls.key_location.is_none() {
                return Err(KafkaConfigError::KeyPasswordWithoutKey);
            }
        }
        Ok(())
    }

    /// The properties every client starts from; each adds its own (group, acks, timeouts).
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in self.properties() {
            config.set(key, value);
        }
        config.set("client.id", client_id);
        config
    }

    fn properties(&self) -> Vec<(&'static str, String)> {
        let Security {
            protocol,
            sasl,
            tls,
        } = &self.security;
        let mut properties = vec![
            ("bootstrap.servers", self.brokers.clone()),
            ("security.protocol", protocol.as_librdkafka().to_string()),
        ];
        if let Some(sasl) = sasl {
            properties.extend([
                ("sasl.mechanism", sasl.mechanism.as_librdkafka().to_string()),
                ("sasl.username", sasl.username.clone()),
                ("sasl.password", sasl.password.clone()),
            ]);
        }
        if protocol.uses_tls() {
            // librdkafka's defaults already verify the broker and its host name; said here so
            // that no later default can turn either off.
            properties.extend([
                ("enable.ssl.certificate.verification", "true".to_string()),
                ("ssl.endpoint.identification.algorithm", "https".to_string()),
            ]);
        }
        if let Some(tls) = tls {
            let path = |p: &PathBuf| p.display().to_string();
            let files = [
                ("ssl.ca.location", tls.ca_location.as_ref().map(path)),
                (
                    "ssl.certificate.location",
                    tls.certificate_location.as_ref().map(path),
                ),
                ("ssl.key.location", tls.key_location.as_ref().map(path)),
                ("ssl.key.password", tls.key_password.clone()),
            ];
            properties.extend(files.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        }
        properties
    }
}

/// Written by hand so that no secret reaches a log through `{:?}`.
impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("brokers", &self.brokers)
            .field("security", &self.security)
            .finish()
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_location", &self.ca_location)
            .field("certificate_location", &self.certificate_location)
            .field("key_location", &self.key_location)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram(protocol: SecurityProtocol) -> KafkaConnection {
        KafkaConnection {
            brokers: "kafka-1.hospital.internal:9093".into(),
            security: Security {
                protocol,
                sasl: Some(Sasl {
                    mechanism: SaslMechanism::ScramSha512,
                    username: "peer-outreach".into(),
                    password: "s3cret".into(),
                }),
                tls: Some(Tls {
                    ca_location: Some("/etc/peer-outreach/hospital-ca.pem".into()),
                    ..Tls::default()
                }),
            },
        }
    }

    fn property(connection: &KafkaConnection, key: &str) -> Option<String> {
        connection
            .client_config("peer-outreach-intake")
            .get(key)
            .map(str::to_owned)
    }

    #[test]
    fn a_hospital_cluster_with_scram_over_tls_gets_every_property_on_every_client() {
        let connection = scram(SecurityProtocol::SaslSsl);
        assert_eq!(connection.validate(), Ok(()));
        for (key, value) in [
            ("bootstrap.servers", "kafka-1.hospital.internal:9093"),
            ("client.id", "peer-outreach-intake"),
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "peer-outreach"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/peer-outreach/hospital-ca.pem"),
            ("enable.ssl.certificate.verification", "true"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            assert_eq!(property(&connection, key).as_deref(), Some(value), "{key}");
        }
        assert_eq!(property(&connection, "ssl.key.location"), None);
    }

    #[test]
    fn a_local_broker_gets_plaintext_and_no_credentials() {
        let connection = KafkaConnection::plaintext("127.0.0.1:9092");
        assert_eq!(connection.validate(), Ok(()));
        assert_eq!(
            property(&connection, "security.protocol").as_deref(),
            Some("plaintext")
        );
        assert_eq!(property(&connection, "sasl.mechanism"), None);
        assert_eq!(property(&connection, "ssl.ca.location"), None);
    }

    #[test]
    fn credentials_a_protocol_would_never_send_are_refused() {
        assert_eq!(
            scram(SecurityProtocol::Ssl).validate(),
            Err(KafkaConfigError::SaslUnused(SecurityProtocol::Ssl))
        );
        let mut connection = scram(SecurityProtocol::SaslPlaintext);
        assert_eq!(
            connection.validate(),
            Err(KafkaConfigError::TlsUnused(SecurityProtocol::SaslPlaintext))
        );
        connection.security.tls = None;
        assert_eq!(connection.validate(), Ok(()));
    }

    #[test]
    fn a_sasl_protocol_without_credentials_is_refused() {
        let mut connection = scram(SecurityProtocol::SaslSsl);
        connection.security.sasl = None;
        assert_eq!(
            connection.validate(),
            Err(KafkaConfigError::SaslMissing(SecurityProtocol::SaslSsl))
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let mut connection = scram(SecurityProtocol::SaslSsl);
        let tls = connection.security.tls.as_mut().unwrap();
        tls.certificate_location = Some("/etc/peer-outreach/client.pem".into());
        assert_eq!(
            connection.validate(),
            Err(KafkaConfigError::HalfAClientCertificate)
        );
        let tls = connection.security.tls.as_mut().unwrap();
        tls.key_location = Some("/etc/peer-outreach/client.key".into());
        tls.key_password = Some("key-s3cret".into());
        assert_eq!(connection.validate(), Ok(()));
        assert_eq!(
            property(&connection, "ssl.key.password").as_deref(),
            Some("key-s3cret")
        );
    }

    #[test]
    fn no_secret_shows_in_debug_output() {
        let mut connection = scram(SecurityProtocol::SaslSsl);
        connection.security.tls.as_mut().unwrap().key_password = Some("key-s3cret".into());
        let debug = format!("{connection:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("peer-outreach"), "{debug}");
    }

    #[test]
    fn empty_brokers_are_refused() {
        assert_eq!(
            KafkaConnection::plaintext(" ").validate(),
            Err(KafkaConfigError::NoBrokers)
        );
    }
}
