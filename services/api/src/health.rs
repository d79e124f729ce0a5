//! Liveness and readiness, for the orchestrator and for whoever is on call.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Allowed, ScrapeMetrics};
use crate::ApiState;

/// Readiness must answer quickly even when the database hangs; probes have their own timeouts.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The service's metrics in the Prometheus text format (also exported over OTLP when
/// configured): messages consumed and dead-lettered, consumer lag, command latency and
/// conflicts, projection lag, open cases. Labels carry no personal or clinical data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(
    State(state): State<ApiState>,
    _: Allowed<ScrapeMetrics>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (state.metrics.0)(),
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: answering at all is the signal.
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessStatus {
    Ready,
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    Ok,
    Unreachable,
}

/// Whether this instance can serve, and how far behind each projection is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: ReadinessStatus,
    pub database: Reachability,
    pub broker: Reachability,
    /// Null when the lag could not be read (e.g. the database is unreachable).
    #[schema(required = true)]
    pub projections: Option<Vec<ProjectionLag>>,
}

/// How many committed events a projection has yet to apply.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ProjectionLag {
    #[sqlx(rename = "projection")]
    pub name: String,
    pub lag_events: i64,
}

/// Liveness: the process is up. Does no I/O, so a slow dependency cannot get us restarted.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers and the Kafka broker is reachable. Projection lag is
/// reported but does not fail readiness: a lagging read model is stale, not broken.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database or the broker is unreachable", body = Readiness),
    )
)]
pub(crate) async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Readiness>) {
    let database = database_reachability(&state.pool).await;
    let broker = if state.broker.is_reachable() {
        Reachability::Ok
    } else {
        Reachability::Unreachable
    };
    let projections = match database {
        Reachability::Ok => projection_lag(&state.pool).await,
        Reachability::Unreachable => None,
    };
    let ready = database == Reachability::Ok && broker == Reachability::Ok;
    let (code, status) = if ready {
        (StatusCode::OK, ReadinessStatus::Ready)
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            ReadinessStatus::Unavailable,
        )
    };
    let body = Readiness {
        status,
        database,
        broker,
        projections,
    };
    (code, Json(body))
}

async fn database_reachability(pool: &sqlx::PgPool) -> Reachability {
    let probe = sqlx::query("SELECT 1").execute(pool);
    match tokio::time::timeout(DATABASE_TIMEOUT, probe).await {
        Ok(Ok(_)) => Reachability::Ok,
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: database unreachable");
            Reachability::Unreachable
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_TIMEOUT, "readiness: database did not answer in time");
            Reachability::Unreachable
        }
    }
}

/// Events are compared in commit order `(transaction_id, global_position)`, the order the
/// projections follow, so the count is exactly what each still has to apply.
async fn projection_lag(pool: &sqlx::PgPool) -> Option<Vec<ProjectionLag>> {
    let query = sqlx::query_as::<_, ProjectionLag>(
        r#"
        SELECT c.projection,
               (SELECT count(*)
                FROM events e
                WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
               ) AS lag_events
        FROM projection_checkpoints c
        ORDER BY c.projection
        "#,
    )
    .fetch_all(pool);
    match tokio::time::timeout(DATABASE_TIMEOUT, query).await {
        Ok(Ok(lags)) => Some(lags),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: projection lag could not be read");
            None
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_TIMEOUT, "readiness: projection lag query timed out");
            None
        }
    }
}
