//! Liveness and readiness, for the orchestrator and for whoever is on call.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Allowed, ScrapeMetrics};
use crate::ApiState;

/// Readiness must answer quickly even when the database hangs; probes have their own timeouts.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a look at the database and the projections' lag stands for readiness: however
/// often `/readyz` is called (it is public), the database is asked at most once in this time.
const FRESH_FOR: Duration = Duration::from_secs(1);

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        // What readiness last found, shared by every call to this router's `/readyz`.
        .layer(Extension(Arc::new(Known::default())))
}

/// What readiness last found out about the database and the projections, and when.
#[derive(Default)]
pub(crate) struct Known {
    last: RwLock<Option<Seen>>,
    /// Held by the one request that looks again; the others answer with what is known.
    looking: tokio::sync::Mutex<()>,
}

/// One look at the database: when, whether it answered, and each projection's lag.
struct Seen {
    at: Instant,
    database: Reachability,
    lags: Option<Vec<ProjectionLag>>,
}

impl Known {
    fn fresh(&self, within: Duration) -> Option<(Reachability, Option<Vec<ProjectionLag>>)> {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|seen| seen.at.elapsed() < within)
            .map(|seen| (seen.database, seen.lags.clone()))
    }

    /// The database's reachability and the projections' lag: as last seen if that is recent;
    /// else one request looks again (one query for the lag of every projection) while any
    /// other answers with what was last seen.
    async fn now(&self, pool: &sqlx::PgPool) -> (Reachability, Option<Vec<ProjectionLag>>) {
        if let Some(known) = self.fresh(FRESH_FOR) {
            return known;
        }
        let _looking = match self.looking.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.fresh(Duration::MAX) {
                Some(known) => return known,
                // Nothing seen yet: wait for the look under way.
                None => self.looking.lock().await,
            },
        };
        if let Some(known) = self.fresh(FRESH_FOR) {
            return known;
        }
        let database = database_reachability(pool).await;
        let lags = match database {
            Reachability::Ok => projection_lag(pool).await,
            Reachability::Unreachable => None,
        };
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(Seen {
            at: Instant::now(),
            database,
            lags: lags.clone(),
        });
        (database, lags)
    }
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
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
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
/// reported but does not fail readiness: a lagging read model is stale, not broken. The
/// database and the lag are as seen at most a second ago (see [`Known`]), so a flood of
/// probes costs the database one look a second.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database or the broker is unreachable", body = Readiness),
    )
)]
pub(crate) async fn readyz(
    State(state): State<ApiState>,
    Extension(known): Extension<Arc<Known>>,
) -> (StatusCode, Json<Readiness>) {
    let (database, projections) = known.now(&state.pool).await;
    let broker = if state.broker.is_reachable() {
        Reachability::Ok
    } else {
        Reachability::Unreachable
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
/// projections follow, so the count is exactly what each still has to apply. The implied
/// `transaction_id >=` lets each count walk the commit-order index from its checkpoint
/// instead of the whole table (as the runners' own lag does).
async fn projection_lag(pool: &sqlx::PgPool) -> Option<Vec<ProjectionLag>> {
    let query = sqlx::query_as::<_, ProjectionLag>(
        r#"
        SELECT c.projection,
               (SELECT count(*)
                FROM events e
                WHERE e.transaction_id >= c.transaction_id
                  AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
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
