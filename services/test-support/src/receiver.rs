//! A small HTTP receiver in the test's own process, standing in for the far end of a webhook
//! (a paging service's events endpoint): it records every request it is sent and answers `202
//! Accepted`, or the statuses a test asks it to give first.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// One request the receiver was sent.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The body as sent.
    pub raw: String,
    /// The body as JSON (`Null` if it is not JSON).
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Statuses to answer, in order, before answering 202 again.
    answers: VecDeque<u16>,
}

/// Listens on a free loopback port until dropped.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    server: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    /// Starts on the current tokio runtime.
    pub async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpReceiver { addr, log, server }
    }

    /// Where to POST events: `http://127.0.0.1:PORT/v2/enqueue`.
    pub fn url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }

    /// Answers the next requests with `statuses`, in order, then `202` again.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.log.lock().unwrap().answers.extend(statuses);
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let mut log = log.lock().unwrap();
    log.received.push(Received {
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&body).unwrap_or_default(),
        raw: body,
    });
    let status = log.answers.pop_front().unwrap_or(202);
    StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED)
}
