//! Publishing a period's statistics: once per period, as a CloudEvent on the statistics topic,
//! through the outbox. The document is the one the safety office reads (`GET /v1/statistics`):
//! only periods that are over, a quarter and its months (where months are served) suppressed
//! together as linked tables, and fixed at the first read or publication ([`fixed`]), so that
//! neither two reads nor a read and the topic can be differenced. It holds counts only.
//!
//! The publication row and the outbox row are written in one transaction, keyed by the period,
//! so a second request for a period (the schedule noticing the quarter's end again, the
//! director asking twice, two instances at once) publishes nothing new and says so.

use chrono::{DateTime, NaiveDate, Utc};
use outreach_domain::period::{NotServed, Period, SafetyOfficePeriods};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::statistics_report::{self, Statistics};

/// The outbox `kind` of a statistics publication.
pub const STATISTICS: &str = "statistics";

/// The CloudEvents `type` of a publication.
pub const EVENT_TYPE: &str = "health.peer-support.statistics.published.v1";

/// The CloudEvents `source` of a publication.
pub const EVENT_SOURCE: &str = "/peer-outreach/statistics";

/// Ids of publications derive from the period in this namespace. Never change it: consumers
/// dedupe on the ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x7374_6174_7350_7562_8d2a_41c7_0b9e_55f3);

/// Who asked for a publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedBy {
    /// The quarter's end, noticed by the service.
    Schedule,
    /// Someone on demand, named: the director, or a service client.
    Caller {
        /// `director` or `service`.
        role: &'static str,
        subject: String,
        staff_id: Option<String>,
    },
}

impl RequestedBy {
    fn role(&self) -> &'static str {
        match self {
            RequestedBy::Schedule => "schedule",
            RequestedBy::Caller { role, .. } => role,
        }
    }

    fn named(&self) -> (Option<&str>, Option<&str>) {
        match self {
            RequestedBy::Schedule => (None, None),
            RequestedBy::Caller {
                subject, staff_id, ..
            } => (Some(subject), staff_id.as_deref()),
        }
    }
}

/// What a request to publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// Published now, as the event with this id.
    Published { event_id: Uuid },
    /// Published before, at that time, as the event with this id; nothing new was sent.
    AlreadyPublished {
        event_id: Uuid,
        published_at: DateTime<Utc>,
    },
}

/// The id of the event that publishes `period`.
pub fn event_id(period: Period) -> Uuid {
    Uuid::new_v5(&NAMESPACE, period.to_string().as_bytes())
}

/// The statistics of `period` as the safety office reads them on `today` (`rule` says which
/// periods it reads and which are suppressed together): fixed the first time its quarter is
/// read or published once over, the same document ever after. Or why it is not served.
pub async fn fixed(
    pool: &PgPool,
    period: Period,
    rule: SafetyOfficePeriods,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Result<Statistics, NotServed>, sqlx::Error> {
    let linked = match rule.linked(period, today) {
        Ok(linked) => linked,
        Err(not_served) => return Ok(Err(not_served)),
    };
    let quarter = linked[0];
    if stored(pool, quarter).await?.is_none() {
        let documents = statistics_report::read_linked(pool, &linked).await?;
        let mut tx = pool.begin().await?;
        // The quarter's row first: a second instance fixing the same quarter at once waits on
        // it, finds it, and stores none of its own, so the quarter and its months are one set.
        for (at, statistics) in documents.iter().enumerate() {
            let stored = sqlx::query(
                "INSERT INTO statistics_snapshots (period, quarter, document, taken_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (period) DO NOTHING",
            )
            .bind(statistics.period.to_string())
            .bind(quarter.to_string())
            .bind(sqlx::types::Json(statistics))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if at == 0 && stored == 0 {
                break;
            }
        }
        tx.commit().await?;
    }
    Ok(stored(pool, period)
        .await?
        .ok_or(NotServed::FixedWithoutMonths(quarter)))
}

async fn stored(pool: &PgPool, period: Period) -> Result<Option<Statistics>, sqlx::Error> {
    let document: Option<sqlx::types::Json<Statistics>> =
        sqlx::query_scalar("SELECT document FROM statistics_snapshots WHERE period = $1")
            .bind(period.to_string())
            .fetch_optional(pool)
            .await?;
    Ok(document.map(|document| document.0))
}

/// Publishes `period`'s statistics, as [`fixed`] gives them, unless they were published
/// already; a period the safety office is not served on `today` is not published either.
pub async fn publish(
    pool: &PgPool,
    period: Period,
    rule: SafetyOfficePeriods,
    requested_by: RequestedBy,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Result<Publication, NotServed>, sqlx::Error> {
    let id = event_id(period);
    let statistics = match fixed(pool, period, rule, today, now).await? {
        Ok(statistics) => statistics,
        Err(not_served) => return Ok(Err(not_served)),
    };
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "INSERT INTO statistics_publications
             (period, event_id, published_at, requested_by, requested_by_subject,
              requested_by_staff_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (period) DO NOTHING",
    )
    .bind(period.to_string())
    .bind(id)
    .bind(now)
    .bind(requested_by.role())
    .bind(requested_by.named().0)
    .bind(requested_by.named().1)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        tx.rollback().await?;
        let published_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT published_at FROM statistics_publications WHERE period = $1",
        )
        .bind(period.to_string())
        .fetch_one(pool)
        .await?;
        return Ok(Ok(Publication::AlreadyPublished {
            event_id: id,
            published_at,
        }));
    }
    let event = json!({
        "specversion": "1.0",
        "id": id,
        "source": EVENT_SOURCE,
        "type": EVENT_TYPE,
        "subject": period.to_string(),
        "time": now,
        "datacontenttype": "application/json",
        "data": statistics,
    });
    sqlx::query(
        "INSERT INTO outbox (id, kind, topic_key, payload, created_at, channel)
         VALUES ($1, $2, $3, $4, $5, 'kafka')",
    )
    .bind(id)
    .bind(STATISTICS)
    .bind(period.to_string())
    .bind(event)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(Publication::Published { event_id: id }))
}
