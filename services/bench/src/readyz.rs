//! The readyz phase: `/readyz` is public, so anyone may call it as often as they like. It must
//! answer from what the service already knows (one look at the database a second, at most),
//! so that a flood of it, even while a projection is rebuilt from zero, does not slow what
//! program managers wait for. Measured: `GET /v1/cases` alone, during a rebuild, and during a
//! rebuild with 1,000 `/readyz` calls at once.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::service::Environment;

/// `GET /v1/cases` calls timed in each condition.
const CASE_LISTS: usize = 200;
/// `/readyz` calls in the flood, and how many are in flight at once.
const PROBES: usize = 1_000;
const PROBES_AT_ONCE: usize = 50;

/// `GET /v1/cases` latencies, sorted, in each condition; and the flood's own.
pub struct Readyz {
    pub alone: Vec<Duration>,
    pub rebuilding: Vec<Duration>,
    pub rebuilding_with_probes: Vec<Duration>,
    pub probes: Vec<Duration>,
    /// Whether the rebuild was still running when the flood ended (else the figure is not
    /// one taken during a rebuild).
    pub rebuild_outlasted: bool,
}

async fn case_lists(
    http: &reqwest::Client,
    addr: &str,
    token: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::with_capacity(CASE_LISTS);
    for _ in 0..CASE_LISTS {
        let started = Instant::now();
        let response = http
            .get(format!("http://{addr}/v1/cases?limit=50"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET /v1/cases: {}",
            response.status()
        );
        response.bytes().await?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(took)
}

/// Runs the phase against the running service at `addr`, rebuilding `projection` meanwhile.
pub async fn measure(
    env: &Environment,
    addr: &str,
    token: &str,
    projection: &str,
) -> anyhow::Result<Readyz> {
    let http = reqwest::Client::new();
    let alone = case_lists(&http, addr, token).await?;
    let rebuild = {
        let env = env.clone();
        let projection = projection.to_owned();
        std::thread::spawn(move || env.rebuild(&projection))
    };
    // Let the rebuild get going (it reads its first batch) before anything is timed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rebuilding = case_lists(&http, addr, token).await?;
    let flood = futures::stream::iter(0..PROBES)
        .map(|_| {
            let http = http.clone();
            async move {
                let started = Instant::now();
                let response = http.get(format!("http://{addr}/readyz")).send().await?;
                response.bytes().await?;
                anyhow::Ok(started.elapsed())
            }
        })
        .buffer_unordered(PROBES_AT_ONCE)
        .collect::<Vec<_>>();
    let (probes, rebuilding_with_probes) = tokio::join!(flood, case_lists(&http, addr, token));
    let rebuild_outlasted = !rebuild.is_finished();
    rebuild
        .join()
        .map_err(|_| anyhow::anyhow!("the rebuild's thread panicked"))??;
    let mut probes = probes.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    probes.sort();
    Ok(Readyz {
        alone,
        rebuilding,
        rebuilding_with_probes: rebuilding_with_probes?,
        probes,
        rebuild_outlasted,
    })
}
