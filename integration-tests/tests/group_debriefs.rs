//! A report that affects many staff at once calls for a group debrief as well as individual
//! outreach; a small one does not.

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, staff_ids, TestBed};
use outreach_intake::sample::Mode;
use serde_json::{json, Value};

fn staff_in(staff_id: &str, discipline: &str, department: &str) -> Value {
    let mut member = staff(staff_id, discipline);
    member["department"] = json!(department);
    member
}

#[tokio::test]
async fn an_incident_naming_seven_staff_proposes_one_group_debrief_and_one_naming_two_none() {
    // One partition: the small report is taken in, and projected, before the large one.
    let bed = TestBed::with(|s| s.kafka.partitions = 1).await;
    let service = bed.start().await;
    bed.publish(
        &incident(
            "INC-901",
            vec![
                staff("S1", "nurse"),
                staff_in("S2", "pharmacist", "Pharmacy"),
            ],
        ),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident(
            "INC-900",
            vec![
                staff("G1", "nurse"),
                staff("G2", "nurse"),
                staff("G3", "physician"),
                staff("G4", "resident"),
                staff("G5", "respiratory_therapist"),
                staff_in("G6", "pharmacist", "Pharmacy"),
                staff_in("G7", "physician", "Anesthesia"),
            ],
        ),
        Mode::Binary,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "nine cases", |cases| cases.len() >= 9)
        .await;
    assert_eq!(
        staff_ids(&cases),
        ["G1", "G2", "G3", "G4", "G5", "G6", "G7", "S1", "S2"]
    );
    let seven: Vec<&Value> = cases
        .iter()
        .filter(|c| c["report"]["report_id"] == "INC-900")
        .collect();
    assert_eq!(seven.len(), 7, "one case per member of the large report");

    let (_, list) = eventually(
        "the group debrief proposal",
        || bed.get(&service, "/v1/group-debriefs?campus=Parnassus"),
        |(status, body)| {
            *status == 200 && body["proposals"].as_array().is_some_and(|p| !p.is_empty())
        },
    )
    .await;
    // Projected in commit order: had the two-staff report proposed one, it would show already.
    assert_eq!(
        list,
        json!({"proposals": [{
            "report": {"source": integration_tests::reports::SOURCE, "report_id": "INC-900"},
            "campus": "Parnassus",
            "unit": "7 Long ICU",
            "staff": 7,
            "departments": 3,
            // When the report was taken in, as its cases were opened.
            "proposed_at": seven[0]["opened_at"]
        }]})
    );
    let (_, elsewhere) = bed
        .get(&service, "/v1/group-debriefs?campus=Mission%20Bay")
        .await;
    assert_eq!(elsewhere, json!({"proposals": []}));
    let proposed: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events WHERE event_type = 'GroupDebriefProposed'",
    )
    .fetch_all(&bed.db().await)
    .await
    .unwrap();
    assert_eq!(
        proposed.len(),
        1,
        "one proposal in the event store: {proposed:?}"
    );
    // Counts only: the proposal names nobody.
    let payload = proposed[0].1.to_string();
    for who in ["G1", "Given", "Family", "example.org"] {
        assert!(!payload.contains(who), "{who} in {payload}");
    }
    service.stop().await;

    // The read model rebuilt from the first event is the one built as events came.
    let db = bed.db().await;
    let snapshot = || async {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT row_to_json(p)::text FROM group_debrief_proposals p ORDER BY report_id",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        rows
    };
    let incremental = snapshot().await;
    assert_eq!(incremental.len(), 1);
    let projection =
        outreach_projections::by_name("group-debriefs", &bed.settings.projection_setup()).unwrap();
    outreach_projections::ProjectionRunner::new(db.clone(), projection, Default::default())
        .rebuild(|_, _| {})
        .await
        .unwrap();
    assert_eq!(snapshot().await, incremental);
}
