//! The limit reference: what this PostgreSQL can write at all. The catch-up run's own event
//! rows (same payloads, same sizes) go into the service's real `events` table (its migrations,
//! indexes and notify trigger) in a fresh database: first one row per transaction from as many
//! concurrent connections as the service's pool holds, then all at once with one `COPY`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

const COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

#[derive(sqlx::FromRow)]
pub struct EventRow {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
}

/// The first `max` events of `pool`'s store, in commit order.
pub async fn load_rows(pool: &PgPool, max: i64) -> anyhow::Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::text AS payload, metadata::text AS metadata
           FROM events ORDER BY transaction_id, global_position LIMIT $1",
    )
    .bind(max)
    .fetch_all(pool)
    .await?)
}

pub struct SingleRows {
    pub elapsed: Duration,
    /// Each commit's round trip, sorted.
    pub commits: Vec<Duration>,
}

/// Every row in a transaction of its own (autocommit), `connections` at a time.
pub async fn single_row_commits(
    url: &str,
    rows: Arc<Vec<EventRow>>,
    connections: usize,
) -> anyhow::Result<SingleRows> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut conns = Vec::new();
    for _ in 0..connections {
        conns.push(PgConnection::connect(url).await?);
    }
    let started = Instant::now();
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let rows = rows.clone();
        tasks.spawn(async move {
            let mut commits = Vec::with_capacity(rows.len() / connections + 1);
            for row in rows.iter().skip(worker).step_by(connections) {
                let one = Instant::now();
                sqlx::query(&format!(
                    "INSERT INTO events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)"
                ))
                .bind(&row.aggregate_type)
                .bind(&row.aggregate_id)
                .bind(row.sequence)
                .bind(&row.event_type)
                .bind(&row.event_version)
                .bind(&row.payload)
                .bind(&row.metadata)
                .execute(&mut conn)
                .await?;
                commits.push(one.elapsed());
            }
            anyhow::Ok(commits)
        });
    }
    let mut commits = Vec::with_capacity(rows.len());
    while let Some(done) = tasks.join_next().await {
        commits.extend(done??);
    }
    let elapsed = started.elapsed();
    commits.sort();
    Ok(SingleRows { elapsed, commits })
}

/// The same rows again, after emptying the table, in one `COPY` (CSV).
pub async fn copy(pool: &PgPool, rows: &[EventRow]) -> anyhow::Result<Duration> {
    sqlx::query("TRUNCATE events").execute(pool).await?;
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY events ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"
        ))
        .await?;
    let mut buffer = Vec::with_capacity(1 << 20);
    for row in rows {
        let fields = [
            row.aggregate_type.as_str(),
            row.aggregate_id.as_str(),
            &row.sequence.to_string(),
            row.event_type.as_str(),
            row.event_version.as_str(),
            row.payload.as_str(),
            row.metadata.as_str(),
        ];
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                buffer.push(b',');
            }
            buffer.push(b'"');
            buffer.extend_from_slice(field.replace('"', "\"\"").as_bytes());
            buffer.push(b'"');
        }
        buffer.push(b'\n');
        if buffer.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buffer)).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}
