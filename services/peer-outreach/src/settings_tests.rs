use super::*;
use outreach_privacy::KeyEncryptionKey;

#[test]
fn the_defaults_load_and_serve_everyone() {
    let settings = Settings::load(None).unwrap();
    assert_eq!(settings.kafka.incidents_topic, "safety.incidents");
    assert_eq!(settings.policy.eligibility, EligibilityPolicy::default());
    assert_eq!(settings.policy.trigger, TriggerPolicy::default());
}

#[test]
fn a_file_overrides_the_defaults_and_unknown_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("peer-outreach-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("physicians.toml");
    std::fs::write(
        &good,
        "[policy.eligibility]\ndisciplines = [\"physician\"]\n",
    )
    .unwrap();
    let settings = Settings::load(Some(&good)).unwrap();
    assert_eq!(
        settings.policy.eligibility,
        EligibilityPolicy::physicians_only()
    );

    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        "[policy.eligibility]\ndiscipline = [\"physician\"]\n",
    )
    .unwrap();
    assert!(Settings::load(Some(&typo)).is_err());
}

#[test]
fn a_secured_cluster_is_configured_once_for_every_kafka_client() {
    let settings = Settings::load(None).unwrap();
    assert_eq!(
        settings.kafka.connection().security,
        outreach_kafka::Security::default()
    );

    let dir = std::env::temp_dir().join(format!("peer-outreach-kafka-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secured = dir.join("secured.toml");
    std::fs::write(
        &secured,
        "[kafka]\nbrokers = \"kafka-1.hospital.internal:9093\"\n\
             [kafka.security]\nprotocol = \"sasl_ssl\"\n\
             [kafka.security.sasl]\nmechanism = \"SCRAM-SHA-512\"\n\
             username = \"peer-outreach\"\npassword = \"s3cret\"\n\
             [kafka.security.tls]\nca_location = \"/etc/peer-outreach/hospital-ca.pem\"\n",
    )
    .unwrap();
    let connection = Settings::load(Some(&secured)).unwrap().kafka.connection();
    let intake = connection.client_config("peer-outreach-intake");
    assert_eq!(intake.get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(intake.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
    assert_eq!(
        intake.get("ssl.ca.location"),
        Some("/etc/peer-outreach/hospital-ca.pem")
    );

    // Credentials without a protocol that sends them are a mistake, not a default.
    let unused = dir.join("unused.toml");
    std::fs::write(
        &unused,
        "[kafka.security.sasl]\nmechanism = \"PLAIN\"\n\
             username = \"peer-outreach\"\npassword = \"s3cret\"\n",
    )
    .unwrap();
    let refused = Settings::load(Some(&unused)).unwrap_err().to_string();
    assert!(refused.contains("does not use SASL"), "{refused}");
}

#[test]
fn every_topic_forgets_and_assignments_go_before_the_purge() {
    let mut settings = Settings::load(None).unwrap();
    let retention = |settings: &Settings, name: &str| {
        settings
            .topics()
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.retention.as_secs() / 3600)
    };
    let assignments = settings.notifications.assignments_topic.clone();
    assert_eq!(retention(&settings, &assignments), Some(168));
    settings.privacy.retention_days = 3;
    assert_eq!(retention(&settings, &assignments), Some(72));
    // No originals of dead letters unless a topic is named for them.
    assert_eq!(settings.topics().len(), 5);
    settings.kafka.dead_letter_originals_topic = Some("originals".into());
    assert_eq!(retention(&settings, "originals"), Some(72));
    assert!(settings
        .topics()
        .iter()
        .all(|t| t.configs()[0] == ("cleanup.policy", "delete".to_owned())));
}

#[test]
fn the_dashboard_is_served_only_when_its_sign_in_is_configured() {
    assert!(Settings::load(None).unwrap().dashboard.is_none());
    let dir = std::env::temp_dir().join(format!("peer-outreach-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dashboard.toml");
    std::fs::write(
        &file,
        "[dashboard.sign_in]\nclient_id = \"peer-outreach-dashboard\"\n\
             redirect_uri = \"https://peer-support.hospital.example/dashboard/sign-in/callback\"\n\
             [privacy]\nkey_encryption_key = \"czNjcmV0czNjcmV0czNjcmV0czNjcmV0czNjcmV0czM=\"\n",
    )
    .unwrap();
    let dashboard = Settings::load(Some(&file))
        .unwrap()
        .dashboard
        .expect("the dashboard is configured");
    assert_eq!(dashboard.sign_in.client_id, "peer-outreach-dashboard");
    // Unset endpoints are found through the issuer's discovery document.
    assert!(dashboard.sign_in.authorization_endpoint.is_none());
    assert_eq!(dashboard.queue_refresh_seconds, 5);
}

#[test]
fn no_secret_of_the_settings_reaches_a_log() {
    let dir = std::env::temp_dir().join(format!("peer-outreach-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.toml");
    std::fs::write(
            &file,
            "[database]\nurl = \"postgres://peer_outreach:runtime-s3cret@db:5432/po\"\n\
             migration_url = \"postgres://peer_outreach_owner:owner-s3cret@db:5432/po\"\n\
             [kafka.security]\nprotocol = \"sasl_ssl\"\n\
             [kafka.security.sasl]\nmechanism = \"PLAIN\"\nusername = \"po\"\npassword = \"kafka-s3cret\"\n\
             [kafka.security.tls]\ncertificate_location = \"/run/secrets/kafka.crt\"\n\
             key_location = \"/run/secrets/kafka.key\"\n\
             key_password = \"tls-key-s3cret\"\n\
             [paging.webhook]\nurl = \"https://events.pagerduty.com/v2/enqueue\"\n\
             routing_key = \"routing-s3cret\"\n\
             [notifications.smtp]\nhost = \"smtp.hospital.example\"\nport = 587\n\
             from = \"Peer Support <ps@hospital.example>\"\ntls = \"starttls\"\n\
             username = \"po\"\npassword = \"smtp-s3cret\"\n\
             [dashboard.sign_in]\nclient_id = \"dashboard\"\nclient_secret = \"client-s3cret\"\n\
             redirect_uri = \"https://peer-support.hospital.example/dashboard/sign-in/callback\"\n\
             [privacy]\nkey_encryption_key = \"czNjcmV0czNjcmV0czNjcmV0czNjcmV0czNjcmV0czM=\"\n\
             previous_key_encryption_key = \"b2xkczNjcmV0b2xkczNjcmV0b2xkczNjcmV0b2xkczM=\"\n",
        )
        .unwrap();
    let settings = Settings::load(Some(&file)).unwrap();

    let printed = format!("{settings:?}");

    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(!printed.contains("czNjcmV0"), "{printed}");
    assert!(!printed.contains("b2xkczNj"), "{printed}");
    assert!(settings.privacy.key_encryption_key().unwrap().is_some());
    assert!(settings
        .privacy
        .previous_key_encryption_key()
        .unwrap()
        .is_some());
    assert!(printed.contains("peer_outreach_owner"), "{printed}");
    let paging = settings.paging.webhook.as_ref().unwrap();
    assert_eq!(paging.routing_key, "routing-s3cret");
    let tls = settings.kafka.security.tls.as_ref().unwrap();
    assert_eq!(tls.key_password.as_deref(), Some("tls-key-s3cret"));
    assert_eq!(
        settings.database.migration_url(),
        "postgres://peer_outreach_owner:owner-s3cret@db:5432/po"
    );
}

#[test]
fn a_previous_kek_needs_a_kek_of_its_own_and_another_one() {
    let kek = KeyEncryptionKey::generate();
    let mut privacy = Settings::load(None).unwrap().privacy;
    privacy.previous_key_encryption_key = Some(kek.to_base64());
    let alone = privacy.previous_key_encryption_key().unwrap_err();
    assert!(alone.to_string().contains("without"), "{alone}");
    privacy.key_encryption_key = Some(kek.to_base64());
    let same = privacy.previous_key_encryption_key().unwrap_err();
    assert!(
        same.to_string().contains("is privacy.key_encryption_key"),
        "{same}"
    );
    privacy.key_encryption_key = Some(KeyEncryptionKey::generate().to_base64());
    let previous = privacy.previous_key_encryption_key().unwrap().unwrap();
    assert_eq!(previous.id(), kek.id());
    privacy.previous_key_encryption_key_file = Some("/run/secrets/old-kek".into());
    let both = privacy.previous_key_encryption_key().unwrap_err();
    assert!(both.to_string().contains("both set"), "{both}");
}

#[test]
fn the_resource_directory_defaults_to_988_and_a_file_replaces_it_whole() {
    let settings = Settings::load(None).unwrap();
    assert_eq!(
        settings.resources,
        outreach_domain::resources::ResourceDirectory::default()
    );
    assert!(settings.alerts.managers.is_empty() && settings.paging.webhook.is_none());

    let dir = std::env::temp_dir().join(format!("peer-outreach-res-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("resources.toml");
    std::fs::write(
        &file,
        "[[resources.entries]]\nname = \"Employee Assistance Program\"\nkind = \"eap\"\n\
             phone = \"+1 415 555 0199\"\n\
             [[resources.entries]]\nname = \"Crisis line\"\nkind = \"crisis_line\"\n\
             phone = \"0800 555 0100\"\n",
    )
    .unwrap();
    let entries = Settings::load(Some(&file)).unwrap().resources.entries;
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Employee Assistance Program", "Crisis line"]);

    // No crisis line at all: refused, naming the floor.
    std::fs::write(
        &file,
        "[[resources.entries]]\nname = \"EAP\"\nkind = \"eap\"\nphone = \"1\"\n",
    )
    .unwrap();
    let refused = Settings::load(Some(&file)).unwrap_err().to_string();
    assert!(refused.contains("crisis line"), "{refused}");
}

#[test]
fn alert_recipients_and_the_sms_gateway_are_checked_when_read() {
    let dir = std::env::temp_dir().join(format!("peer-outreach-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("alerts.toml");
    std::fs::write(
        &file,
        "[alerts]\nmanagers = [\"peer-support-managers@hospital.example\"]\n\
             director = [\"director@hospital.example\"]\n\
             [paging.sms]\naddress = \"{phone}@sms.hospital.example\"\n\
             [paging.webhook]\nurl = \"https://events.pagerduty.com/v2/enqueue\"\n\
             routing_key = \"R0UTING\"\n",
    )
    .unwrap();
    let settings = Settings::load(Some(&file)).unwrap();
    let setup = settings.alert_setup();
    assert!(setup.webhook);
    assert_eq!(
        setup.sms_address("+1 415 555 0101").as_deref(),
        Some("14155550101@sms.hospital.example")
    );
    assert_eq!(setup.director, ["director@hospital.example"]);

    for (bad, named) in [
        (
            "[alerts]\nmanagers = [\"not an address\"]\n",
            "alerts.managers[0]",
        ),
        (
            "[paging.sms]\naddress = \"sms.hospital.example\"\n",
            "paging.sms.address",
        ),
        (
            "[alerts]\ndashboard_url = \"javascript:x\"\n",
            "alerts.dashboard_url",
        ),
    ] {
        std::fs::write(&file, bad).unwrap();
        let refused = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(refused.contains(named), "{refused}");
    }
}

#[test]
fn no_email_is_sent_unless_an_smtp_relay_is_configured() {
    let settings = Settings::load(None).unwrap();
    assert!(settings.notifications.smtp.is_none());
    assert_ne!(
        settings.notifications.assignments_topic,
        settings.notifications.topic
    );

    let dir = std::env::temp_dir().join(format!("peer-outreach-smtp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("smtp.toml");
    std::fs::write(
        &file,
        "[notifications.smtp]\nhost = \"smtp.hospital.example\"\nport = 587\n\
             from = \"Peer Support <peer-support@hospital.example>\"\ntls = \"starttls\"\n",
    )
    .unwrap();
    let smtp = Settings::load(Some(&file))
        .unwrap()
        .notifications
        .smtp
        .expect("the relay is configured");
    assert_eq!(smtp.port, 587);
    assert_eq!(smtp.tls, outreach_outbound::SmtpTls::Starttls);
    assert!(smtp.username.is_none());
}
