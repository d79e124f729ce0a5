//! The OpenAPI 3.1 document of this API, generated from the handlers' annotations.

use std::sync::LazyLock;

use axum::Json;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::case_commands::OptionalNoFieldsBodies;
use crate::{
    access_audit, case_commands, case_timeline, cases, contact_confirmation, error, feedback,
    group_debriefs, health, matching, members, my_cases, referrals, roster_changes, statistics,
    supporters, values, ApiState,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "peer-outreach API",
        description = "Outreach cases of clinician peer-support programs. Errors are RFC 9457 problem documents. Cases open from what intake reads on the incidents topic: the four native CloudEvent types (health.safety.incident.reported.v1, .ireport.filed.v1, .incident.amended.v1, .incident.withdrawn.v1; structured or binary mode) and HL7 FHIR R4, R4B and R5 AdverseEvents (alone, contained, or in a Bundle) as CloudEvents whose datacontenttype is application/fhir+json or as bare records with that content-type; schemas/README.md in the repository describes each, and what is kept of it."
    ),
    // Problem is listed explicitly: unknown routes and wrong methods answer with it too, and
    // the commands' shared error responses refer to it by name.
    // Subject and Format are in query parameters only, which refer to them without listing them.
    // The paths, and the schemas their bodies use, come from the routes (`routes`); the
    // modifiers run once those are in (`openapi`).
    components(schemas(error::Problem, values::Subject, statistics::Format)),
    tags(
        (name = "cases", description = "Outreach cases, from the outreach read model"),
        (name = "case commands", description = "What program managers and peer supporters record on a case. Facts, codes and dates only: no notes. The read model shows the result shortly after."),
        (name = "members", description = "What care team members ask of the program: a referral for support (by themselves, a colleague or a supervisor), preferences about contact and supporter, opting out of automatic outreach. Who to reach and how, never what happened."),
        (name = "roster", description = "The program's peer supporters, kept by program managers: campus, department, discipline, seniority, training, capacity and availability. Matching reads it."),
        (name = "matching", description = "Which supporters fit a case and why, from the matching read model; never anyone from the member's department unless asked, named in the same report, paused, untrained, at capacity or unavailable before the contact deadline"),
        (name = "statistics", description = "Cumulative counts for the safety office by quarter or month, broken down by campus and discipline; counts from 1 to 10, and any cell they could be derived from, are suppressed"),
        (name = "group debriefs", description = "Reports that affect many staff at once and call for a group debrief as well as individual outreach: counts, campus and unit, never who"),
        (name = "feedback", description = "Anonymous feedback through one-time links sent to members whose case completed: two ratings, kept with nothing that leads back to the member, the case or the link, and published only as suppressed counts"),
        (name = "my cases", description = "A peer supporter's own cases: only the member's name, contact details and preferences, nothing else about the case or the report"),
        (name = "access audit", description = "Every read of a member's personal data, for the program director; append-only"),
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

/// Routes anyone may call without a bearer token: the probes an orchestrator calls, this
/// document, and the one-time feedback link (its token is the credential, and anonymity is the
/// point). Every other route requires a token; `tests/access_api.rs` holds them to it.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("post", "/v1/feedback/{token}"),
];

/// Declares the bearer scheme, requires it of every operation but [`PUBLIC_ROUTES`], and adds
/// the 401 and 403 answers those operations share.
struct BearerTokens;

impl utoipa::Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An OpenID Connect access token from the hospital's identity provider (RS256 or ES256), with the program's roles in its roles claim"))
                    .build(),
            ),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    error::PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("delete", item.delete.as_mut()),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                if PUBLIC_ROUTES.contains(&(method, path.as_str())) {
                    operation.security = Some(vec![SecurityRequirement::default()]);
                    continue;
                }
                operation.security =
                    Some(vec![SecurityRequirement::new::<_, _, &str>("bearer", [])]);
                let responses = &mut operation.responses.responses;
                responses.entry("401".into()).or_insert_with(|| {
                    problem("No bearer token, or one that did not check out").into()
                });
                responses
                    .entry("403".into())
                    .or_insert_with(|| problem("The caller's role does not allow this").into());
            }
        }
    }
}

/// OpenAPI links from the lists to the operations that take their ids, so that a client (or a
/// fuzzer) goes from `GET /v1/cases` to the case's commands with its id (an `If-Match` is a
/// quoted version, which a link cannot write from the number), and from
/// `GET /v1/supporters` to a supporter's operations, and from a staff referral to its case.
struct Links;

impl utoipa::Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        /// An answer that holds an id: where it is.
        struct Source {
            path: &'static str,
            method: &'static str,
            status: &'static str,
            parameter: &'static str,
            id: &'static str,
        }
        let sources = [
            Source {
                path: "/v1/cases",
                method: "get",
                status: "200",
                parameter: "case_id",
                id: "$response.body#/cases/0/case_id",
            },
            Source {
                path: "/v1/supporters",
                method: "get",
                status: "200",
                parameter: "staff_id",
                id: "$response.body#/supporters/0/staff_id",
            },
            Source {
                path: "/v1/referrals",
                method: "post",
                status: "201",
                parameter: "case_id",
                id: "$response.body#/case_id",
            },
        ];
        // Every operation that takes the id in its path, by its operation id.
        let targets = |parameter: &str| -> Vec<String> {
            let placeholder = format!("{{{parameter}}}");
            openapi
                .paths
                .paths
                .iter()
                .filter(|(path, _)| path.contains(&placeholder))
                .flat_map(|(_, item)| {
                    [&item.get, &item.post, &item.put]
                        .into_iter()
                        .flatten()
                        .filter_map(|operation| operation.operation_id.clone())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let links: Vec<_> = sources
            .iter()
            .map(|source| {
                let links: Vec<(String, RefOr<utoipa::openapi::link::Link>)> =
                    targets(source.parameter)
                        .into_iter()
                        .map(|operation_id| {
                            let link = LinkBuilder::new()
                                .operation_id(&operation_id)
                                .parameter(source.parameter, source.id);
                            (operation_id, link.build().into())
                        })
                        .collect();
                (source.path, source.method, source.status, links)
            })
            .collect();
        for (path, method, status, found) in links {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let operation = match method {
                "get" => item.get.as_mut(),
                _ => item.post.as_mut(),
            };
            let Some(RefOr::T(response)) =
                operation.and_then(|operation| operation.responses.responses.get_mut(status))
            else {
                continue;
            };
            response.links.extend(found);
        }
    }
}

/// A referral's contact holds at least one way to reach the member. (utoipa 5.5 writes its
/// `min_properties` attribute as `maxProperties`, so it is set here.)
struct AtLeastOneContact;

impl utoipa::Modify for AtLeastOneContact {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let contact = openapi
            .components
            .as_mut()
            .and_then(|components| components.schemas.get_mut("ReferralContact"));
        if let Some(RefOr::T(Schema::Object(object))) = contact {
            object.min_properties = Some(1);
        }
    }
}

/// Every documented route of [`crate::router`], each registered with its documentation.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(cases::routes())
        .merge(case_timeline::routes())
        .merge(my_cases::routes())
        .merge(access_audit::routes())
        .merge(case_commands::routes())
        .merge(contact_confirmation::routes())
        .merge(members::routes())
        .merge(referrals::routes())
        .merge(supporters::routes())
        .merge(roster_changes::routes())
        .merge(matching::routes())
        .merge(statistics::routes())
        .merge(feedback::routes())
        .merge(group_debriefs::routes())
        .merge(health::routes())
        .routes(routes!(openapi_json))
}

/// The OpenAPI document for every route of [`crate::router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = routes().split_for_parts();
    let modifiers: [&dyn Modify; 4] = [
        &OptionalNoFieldsBodies,
        &BearerTokens,
        &Links,
        &AtLeastOneContact,
    ];
    for modifier in modifiers {
        modifier.modify(&mut openapi);
    }
    openapi
}

/// The document as served at `/openapi.json`. utoipa 5.5 writes a link's fields in snake case
/// (`operation_id`); OpenAPI spells them in camel case, so they are renamed here.
pub fn document() -> serde_json::Value {
    fn camel_case_links(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(links)) = map.get_mut("links") {
                    for link in links.values_mut() {
                        let serde_json::Value::Object(link) = link else {
                            continue;
                        };
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(field) = link.remove(from) {
                                link.insert(to.to_owned(), field);
                            }
                        }
                    }
                }
                map.values_mut().for_each(camel_case_links);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(camel_case_links),
            _ => {}
        }
    }
    let mut document = serde_json::to_value(openapi()).expect("the document is JSON");
    camel_case_links(&mut document);
    document
}

// Built once: the document cannot change while the process runs.
static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(document);

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Json<&'static serde_json::Value> {
    Json(&DOCUMENT)
}
