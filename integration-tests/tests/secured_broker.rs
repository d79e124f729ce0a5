//! A hospital's cluster that requires TLS and SASL/SCRAM. Every Kafka client of the service
//! (the consumer, topic creation, the dead-letter producer, the readiness probe) connects with
//! `[kafka.security]`, and a broker whose certificate the configured CA did not issue is refused.
//!
//! The broker is a tansu of the test's own requiring SCRAM-SHA-512, behind a TLS terminator
//! with a certificate for 127.0.0.1 from a CA of the test's own (tansu 0.6 serves no TLS itself).

use std::path::PathBuf;
use std::time::Duration;

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, TestBed};
use outreach_intake::sample::{Encoded, Mode};
use outreach_kafka::{Sasl, SaslMechanism, Security, SecurityProtocol, Tls};
use outreach_test_support::free_port;
use outreach_test_support::tansu::{Listener, Tansu};
use outreach_test_support::tls::{TestCa, TlsTerminator};

const USER: &str = "peer-outreach";
const PASSWORD: &str = "correct-horse-battery-staple";

struct SecuredCluster {
    dir: PathBuf,
    tls_port: u16,
    hospital_ca: TestCa,
    _broker: Tansu,
    _tls: TlsTerminator,
}

impl SecuredCluster {
    async fn start() -> SecuredCluster {
        let dir =
            std::env::temp_dir().join(format!("peer-outreach-secured-{}", uuid::Uuid::new_v4()));
        let (port, tls_port) = (free_port(), free_port());
        // Users are made while tansu still takes unauthenticated clients.
        let broker = Tansu::start(&dir, port).expect("start tansu");
        broker.create_user(USER, PASSWORD).expect("a SCRAM user");
        let broker = broker
            .restarted_with(Listener {
                authentication: true,
                advertised_port: Some(tls_port),
            })
            .expect("restart tansu requiring authentication");
        let hospital_ca = TestCa::issue(&dir, "hospital").expect("a CA and broker certificate");
        let tls = TlsTerminator::start(tls_port, &hospital_ca, ([127, 0, 0, 1], port).into())
            .expect("a TLS terminator");
        SecuredCluster {
            dir,
            tls_port,
            hospital_ca,
            _broker: broker,
            _tls: tls,
        }
    }

    /// A test bed on this cluster, authenticated as the service's user and trusting its CA.
    async fn test_bed(&self) -> TestBed {
        TestBed::with(|settings| {
            settings.kafka.brokers = self.brokers();
            settings.kafka.security = self.security(self.hospital_ca.ca_pem.clone(), PASSWORD);
        })
        .await
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    fn security(&self, ca: PathBuf, password: &str) -> Security {
        Security {
            protocol: SecurityProtocol::SaslSsl,
            sasl: Some(Sasl {
                mechanism: SaslMechanism::ScramSha512,
                username: USER.into(),
                password: password.into(),
            }),
            tls: Some(Tls {
                ca_location: Some(ca),
                ..Tls::default()
            }),
        }
    }
}

/// Starts the service on `bed`'s topics with `security` instead of the bed's, and waits until
/// its readiness check names the broker unreachable (503).
async fn start_unready(bed: &TestBed, security: Security) -> peer_outreach::Service {
    let mut settings = bed.settings.clone();
    settings.kafka.security = security;
    // The topics exist already; creating them would wait on the broker.
    settings.kafka.create_topics = false;
    let service = peer_outreach::Service::start(&settings)
        .await
        .expect("the service starts");
    let ready = eventually(
        "the readiness check to name the broker",
        || async { bed.get(&service, "/readyz").await },
        |(_, ready)| ready["broker"] == "unreachable",
    )
    .await;
    assert_eq!(ready.0, 503, "{}", ready.1);
    service
}

impl Drop for SecuredCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn on_a_cluster_requiring_tls_and_scram_a_report_opens_its_cases_and_bad_input_is_dead_lettered(
) {
    let cluster = SecuredCluster::start().await;
    let bed = cluster.test_bed().await;
    let service = bed.start().await;

    bed.publish(
        &incident(
            "IR-TLS-1",
            vec![staff("E10001", "nurse"), staff("E10002", "physician")],
        ),
        Mode::Binary,
    )
    .await;
    bed.publish_raw(
        Some("IR-TLS-2"),
        &Encoded {
            payload: b"not a cloudevent".to_vec(),
            headers: vec![("content-type".into(), "application/json".into())],
        },
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "both cases of the report", |cases| {
            cases.len() == 2
        })
        .await;
    assert_eq!(integration_tests::staff_ids(&cases), ["E10001", "E10002"]);
    let dead = bed.dead_letters(1).await;
    assert_eq!(dead[0].header("dlq-reason-code"), "not-json");
    assert_eq!(
        dead[0].header("dlq-source-topic"),
        bed.settings.kafka.incidents_topic
    );
    let (status, ready) = bed.get(&service, "/readyz").await;
    assert_eq!((status, &ready["broker"]), (200, &"ok".into()), "{ready}");
    service.stop().await;
}

#[tokio::test]
async fn a_broker_whose_certificate_the_hospital_ca_did_not_issue_is_refused() {
    let cluster = SecuredCluster::start().await;
    let bed = cluster.test_bed().await;
    let stranger = TestCa::issue(&cluster.dir, "stranger").expect("another CA");
    let service = start_unready(&bed, cluster.security(stranger.ca_pem.clone(), PASSWORD)).await;
    service.stop().await;
}

#[tokio::test]
async fn a_wrong_password_keeps_the_service_from_the_stream() {
    let cluster = SecuredCluster::start().await;
    let bed = cluster.test_bed().await;
    let service = start_unready(
        &bed,
        cluster.security(cluster.hospital_ca.ca_pem.clone(), "guessed"),
    )
    .await;
    // The same report through the bed's own (correctly authenticated) producer stays unread.
    bed.publish(
        &incident("IR-TLS-3", vec![staff("E10003", "nurse")]),
        Mode::Binary,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(bed.cases(&service).await.is_empty());
    service.stop().await;
}
