//! A case's steps in time order, from the case timeline read model: what happened and when,
//! with the codes that say how. Nothing personal and nothing said is in it, so reading it is
//! not an access to a member's personal data.
//!
//! The program director also sees who took each step (see [`crate::attribution`]); a program
//! manager sees the steps without their authors.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::{Allowed, Permission, ReadAuthors, RunTheProgram};
use crate::attribution::Author;
use crate::cases::ReportRef;
use crate::error::{ApiError, Problem};
use crate::extract::Path;
use crate::ApiState;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(get_case_timeline))
}

/// What a step of the case was: one per kind of event of the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum StepKind {
    Opened,
    TriggerLinked,
    Cancelled,
    SupporterAssigned,
    ContactAttempted,
    SupportDeclined,
    SupportAccepted,
    EncounterRecorded,
    ResourcesSent,
    /// The resource sheet reached the member's mail server (recorded after delivery).
    ResourceSheetSent,
    ReferredToProfessionalHelp,
    EscalationRecorded,
    Closed,
    Reopened,
    FirstContactDeadlinePassed,
    /// The case opened with a referrer's suggestion of contact details, held for the program's
    /// staff to confirm.
    ContactToConfirm,
    /// A program manager confirmed how to reach the member (`reason`: `as_suggested` or
    /// `replaced`).
    ContactConfirmed,
}

/// One step of a case. Only the codes that belong to its kind are present.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineStep {
    pub step: StepKind,
    pub at: DateTime<Utc>,
    /// `opened`, `trigger_linked`: the report and its kind of trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `supporter_assigned`: the supporter's staff id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supporter_id: Option<String>,
    /// `contact_attempted`: `email`, `phone` or `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// `contact_attempted`: `no_answer`, `message_left` or `reached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `support_declined` stored before sheets were really sent: the claim made then, which
    /// nothing backed. Whether a sheet went out is a `resource_sheet_sent` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_sheet_sent: Option<bool>,
    /// `encounter_recorded`: the day it was held, how, in what format, about how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_on: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `referred_to_professional_help`: the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `escalation_recorded`: the category, never a narrative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `cancelled`, `closed`: why. `contact_confirmed`: `as_suggested` or `replaced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `closed` as `merged`: the case it joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Uuid>,
    /// `opened`: whether the case opened urgent. `trigger_linked`: whether the report that
    /// joined made the case urgent (it was routine until then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgent: Option<bool>,
    /// `opened`: when first contact was due. `trigger_linked` that made the case urgent while
    /// first contact was owed: the sooner time first contact is due by from then on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_contact_due: Option<DateTime<Utc>>,
    /// Who took the step: shown to the program director only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
}

/// A case's steps, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseTimeline {
    pub case_id: Uuid,
    pub steps: Vec<TimelineStep>,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    step: StepKind,
    at: DateTime<Utc>,
    report_source: Option<String>,
    report_id: Option<String>,
    trigger_kind: Option<String>,
    supporter_id: Option<String>,
    channel: Option<String>,
    outcome: Option<String>,
    resource_sheet_sent: Option<bool>,
    held_on: Option<NaiveDate>,
    modality: Option<String>,
    format: Option<String>,
    duration: Option<String>,
    service: Option<String>,
    category: Option<String>,
    reason: Option<String>,
    merged_into: Option<Uuid>,
    urgent: Option<bool>,
    first_contact_due: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    author: Author,
}

impl From<StepRow> for TimelineStep {
    fn from(row: StepRow) -> Self {
        let report = match (row.report_source, row.report_id) {
            (Some(source), Some(report_id)) => Some(ReportRef { source, report_id }),
            _ => None,
        };
        TimelineStep {
            step: row.step,
            at: row.at,
            report,
            trigger: row.trigger_kind,
            supporter_id: row.supporter_id,
            channel: row.channel,
            outcome: row.outcome,
            resource_sheet_sent: row.resource_sheet_sent,
            held_on: row.held_on,
            modality: row.modality,
            format: row.format,
            duration: row.duration,
            service: row.service,
            category: row.category,
            reason: row.reason,
            merged_into: row.merged_into,
            urgent: row.urgent,
            first_contact_due: row.first_contact_due,
            author: Some(row.author),
        }
    }
}

/// Whether the steps are read with their authors: for the program director only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authors {
    Shown,
    Hidden,
}

impl Authors {
    /// Shown to those who may read authors (the director), hidden from everyone else.
    pub(crate) fn for_caller(caller: &crate::access::Caller) -> Self {
        if caller.0.has_any(ReadAuthors::ROLES) {
            Authors::Shown
        } else {
            Authors::Hidden
        }
    }
}

/// The case's steps in the order they happened (steps recorded at the same instant in the
/// order they were recorded); empty if the read model has none of the case yet.
pub(crate) async fn steps(
    pool: &sqlx::PgPool,
    case_id: Uuid,
    authors: Authors,
) -> Result<Vec<TimelineStep>, ApiError> {
    let rows = sqlx::query_as::<_, StepRow>(
        "SELECT step, at, report_source, report_id, trigger_kind, supporter_id, channel, outcome,
                resource_sheet_sent, held_on, modality, format, duration, service, category,
                reason, merged_into, urgent, first_contact_due, author_source, author_role,
                author_subject, author_staff_id, author_relation
           FROM case_timeline
          WHERE case_id = $1
          ORDER BY at, sequence",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let mut steps: Vec<TimelineStep> = rows.into_iter().map(Into::into).collect();
    if authors == Authors::Hidden {
        steps.iter_mut().for_each(|step| step.author = None);
    }
    Ok(steps)
}

/// A case's steps in time order: opened, triggers linked, assigned, each contact attempt, the
/// member's decision, each encounter, resources, referrals, escalations, closed. Codes and
/// dates only: what was said is never recorded. For the program director, each step also
/// names who took it (`author`).
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}/timeline",
    tag = "cases",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case's steps, oldest first", body = CaseTimeline),
        (status = 400, description = "The case id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No case has this id (or the timeline has not taken it in yet)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The server failed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_case_timeline(
    State(state): State<ApiState>,
    Allowed(caller, _): Allowed<RunTheProgram>,
    Path(case_id): Path<Uuid>,
) -> Result<Json<CaseTimeline>, ApiError> {
    let steps = steps(&state.pool, case_id, Authors::for_caller(&caller)).await?;
    // Every case's timeline starts with its opening: none means no such case.
    if steps.is_empty() {
        return Err(ApiError::CaseNotFound);
    }
    Ok(Json(CaseTimeline { case_id, steps }))
}
