//! The OpenAPI 3.1 document of this API, generated from the handlers' annotations.

use std::sync::LazyLock;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::{cases, error, health, ApiState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "peer-outreach API",
        description = "Outreach cases of clinician peer-support programs. Errors are RFC 9457 problem documents."
    ),
    paths(
        cases::list_cases,
        cases::get_case,
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
    ),
    // Problem is listed explicitly: unknown routes and wrong methods answer with it too.
    components(schemas(error::Problem)),
    tags(
        (name = "cases", description = "Outreach cases, from the outreach read model"),
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document for every route of [`crate::router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

// Built once: the document cannot change while the process runs.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(openapi);

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}
