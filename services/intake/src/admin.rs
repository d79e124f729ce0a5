//! Topic creation, the check of existing topics' settings, and broker reachability. Some
//! brokers (tansu among them) do not create topics on first use, and production clusters often
//! forbid it, so the service creates its own when configured to.
//!
//! Every topic is created with `cleanup.policy=delete` and a `retention.ms` of its own, so that
//! the broker forgets what the service no longer needs (the assignments topic, which carries
//! members' names and contact details, within the retention purge's period). A topic that
//! exists already keeps whatever settings it has: the service never alters them, but reads them
//! back (DescribeConfigs) and warns about each that differs, naming the topic and the setting.
//!
//! tansu 0.6 stores the settings given at creation and returns exactly those from
//! DescribeConfigs (no broker defaults), and deletes records of topics whose `cleanup.policy`
//! contains `delete` once they are older than `retention.ms` (from the record's timestamp, in
//! its maintenance pass, every 10 minutes by default). A topic tansu holds without the settings
//! deletes nothing, so the check reports a setting it does not return as "not set". Apache Kafka
//! returns every setting, with its defaults, and deletes by the same two settings (checked every
//! `log.retention.check.interval.ms`, five minutes by default).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use outreach_kafka::KafkaConnection;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewTopic, OwnedResourceSpecifier, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::IntakeError;

/// A producer that waits for every in-sync replica and gives up on a record after 30 s (the
/// caller retries): what both dead letters and sample events need.
pub(crate) fn reliable_producer(
    connection: &KafkaConnection,
    client_id: &str,
) -> Result<FutureProducer, IntakeError> {
    Ok(connection
        .client_config(client_id)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()?)
}

/// A topic the service reads or writes, as it creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// How long the broker keeps a record (`retention.ms`, with `cleanup.policy=delete`).
    pub retention: Duration,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32, retention: Duration) -> Self {
        Self {
            name: name.into(),
            partitions,
            retention,
        }
    }

    /// The settings the topic is created with, and checked for when it exists already.
    pub fn configs(&self) -> [(&'static str, String); 2] {
        [
            ("cleanup.policy", "delete".to_owned()),
            ("retention.ms", self.retention.as_millis().to_string()),
        ]
    }
}

/// A setting of an existing topic that is not what the service would have created it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDiffers {
    pub topic: String,
    pub setting: &'static str,
    pub wanted: String,
    /// What the broker holds; `None` when it returns nothing for the setting (tansu, for a
    /// topic created without it: then it deletes nothing).
    pub found: Option<String>,
}

impl fmt::Display for SettingDiffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.found.as_deref().unwrap_or("not set");
        write!(
            f,
            "topic {} has {} = {found}, not {}",
            self.topic, self.setting, self.wanted
        )
    }
}

fn admin_client(
    connection: &KafkaConnection,
) -> Result<AdminClient<DefaultClientContext>, IntakeError> {
    Ok(connection.client_config("peer-outreach-admin").create()?)
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(30)))
}

/// Creates each topic that does not exist yet, with its settings. An existing topic is left as
/// it is: [`check_topics`] says whether its settings differ.
pub async fn ensure_topics(
    connection: &KafkaConnection,
    topics: &[TopicSpec],
) -> Result<(), IntakeError> {
    let admin = admin_client(connection)?;
    let configs: Vec<[(&str, String); 2]> = topics.iter().map(TopicSpec::configs).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&configs)
        .map(|(topic, configs)| {
            configs.iter().fold(
                NewTopic::new(&topic.name, topic.partitions, TopicReplication::Fixed(1)),
                |new, (key, value)| new.set(key, value),
            )
        })
        .collect();
    for result in admin.create_topics(&new_topics, &admin_options()).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(IntakeError::Topic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Reads each topic's settings back from the broker and warns about each that differs from
/// what the service creates it with (a topic made before, by hand or by an older version, or a
/// broker that ignored a setting), naming the topic and the setting. A topic whose settings
/// cannot be read (no DescribeConfigs right, the broker away) is warned about too; nothing here
/// stops the service. Returns what differs.
pub async fn check_topics(
    connection: &KafkaConnection,
    topics: &[TopicSpec],
) -> Vec<SettingDiffers> {
    let names: Vec<&str> = topics.iter().map(|topic| topic.name.as_str()).collect();
    let described = match admin_client(connection) {
        Ok(admin) => describe(&admin, &names).await,
        Err(error) => Err(error),
    };
    let described = match described {
        Ok(described) => described,
        Err(error) => {
            tracing::warn!(%error, "cannot read the topics' settings from the broker");
            return Vec::new();
        }
    };
    let mut differs = Vec::new();
    for (topic, held) in topics.iter().zip(described) {
        let held = match held {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(topic = %topic.name, %error, "cannot read the topic's settings");
                continue;
            }
        };
        for (setting, wanted) in topic.configs() {
            let found = held.get(setting).cloned();
            if found.as_deref() == Some(wanted.as_str()) {
                continue;
            }
            let difference = SettingDiffers {
                topic: topic.name.clone(),
                setting,
                wanted,
                found,
            };
            tracing::warn!(
                topic = %difference.topic, setting, wanted = %difference.wanted,
                found = difference.found.as_deref().unwrap_or("not set"),
                "{difference}: the service does not change an existing topic's settings; \
                 set them on the broker"
            );
            differs.push(difference);
        }
    }
    differs
}

/// The settings the broker holds for `topic` (DescribeConfigs), by name. Apache Kafka returns
/// every setting, defaults included; tansu only those given when the topic was created.
pub async fn topic_configs(
    connection: &KafkaConnection,
    topic: &str,
) -> Result<BTreeMap<String, String>, IntakeError> {
    let admin = admin_client(connection)?;
    describe(&admin, &[topic])
        .await?
        .pop()
        .expect("one answer per topic asked about")
}

/// The settings of each of `topics`, in one request: per topic, by name, or why not.
async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[&str],
) -> Result<Vec<Result<BTreeMap<String, String>, IntakeError>>, IntakeError> {
    let resources: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|topic| ResourceSpecifier::Topic(topic))
        .collect();
    let described = admin.describe_configs(&resources, &admin_options()).await?;
    let mut by_topic: BTreeMap<String, Result<BTreeMap<String, String>, RDKafkaErrorCode>> =
        BTreeMap::new();
    for result in described {
        match result {
            Ok(resource) => {
                if let OwnedResourceSpecifier::Topic(name) = resource.specifier {
                    let settings = resource
                        .entries
                        .into_iter()
                        .filter_map(|entry| Some((entry.name, entry.value?)))
                        .collect();
                    by_topic.insert(name, Ok(settings));
                }
            }
            // An error names no resource; it answers the first topic not yet answered.
            Err(code) => {
                if let Some(topic) = topics.iter().find(|t| !by_topic.contains_key(**t)) {
                    by_topic.insert((*topic).to_owned(), Err(code));
                }
            }
        }
    }
    Ok(topics
        .iter()
        .map(|topic| match by_topic.remove(*topic) {
            Some(Ok(settings)) => Ok(settings),
            Some(Err(code)) => Err(IntakeError::Topic {
                topic: (*topic).to_owned(),
                reason: code.to_string(),
            }),
            None => Err(IntakeError::Topic {
                topic: (*topic).to_owned(),
                reason: "the broker did not describe it".to_owned(),
            }),
        })
        .collect())
}

/// Answers whether the broker is reachable, for readiness checks.
#[derive(Clone)]
pub struct BrokerProbe {
    client: Arc<BaseProducer>,
}

impl BrokerProbe {
    pub fn new(connection: &KafkaConnection) -> Result<Self, IntakeError> {
        let client: BaseProducer = connection.client_config("peer-outreach-probe").create()?;
        Ok(Self {
            client: Arc::new(client),
        })
    }

    pub async fn reachable(&self) -> bool {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }
}
