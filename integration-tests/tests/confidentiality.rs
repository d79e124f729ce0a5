//! "A designated peer supporter, who will only be given contact information and no clinical
//! details": clinical detail is dropped at the boundary and exists nowhere in the service.

use integration_tests::logs::CapturedLogs;
use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::TestBed;
use outreach_intake::sample::Mode;

#[tokio::test]
async fn clinical_detail_reaches_no_table_no_log_line_and_no_response() {
    let logs = CapturedLogs::install();
    let bed = TestBed::new().await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    // Two reports, different people: one member, one open case would otherwise link them.
    let first = vec![staff("S1", "physician"), staff("S2", "nurse")];
    let second = vec![staff("S3", "pharmacist"), staff("S4", "nurse")];
    bed.publish(
        &incident_with_clinical_detail("INC-CANARY-1", first, &canary),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident_with_clinical_detail("INC-CANARY-2", second, &canary),
        Mode::Binary,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "four cases", |cases| cases.len() == 4)
        .await;

    // Every response the API gives about these cases.
    let mut responses = vec![serde_json::to_string(&cases).unwrap()];
    for case in &cases {
        let (_, one) = bed
            .get(
                &service,
                &format!("/v1/cases/{}", case["case_id"].as_str().unwrap()),
            )
            .await;
        responses.push(one.to_string());
    }
    for path in ["/v1/cases?status=open", "/readyz", "/openapi.json"] {
        responses.push(bed.get(&service, path).await.1.to_string());
    }
    service.stop().await;
    for response in &responses {
        assert!(
            !response.contains(&canary),
            "an API response holds clinical detail: {response}"
        );
    }
    // The members' names did arrive: the canary is absent because it was dropped, not because
    // nothing was stored.
    assert!(responses[0].contains("GivenS1"));

    // Every row of every table, as text.
    let db = bed.db().await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(
        tables.iter().any(|(_, t)| t == "events")
            && tables.iter().any(|(_, t)| t == "outreach_cases")
    );
    for (schema, table) in &tables {
        let hits: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{schema}\".\"{table}\" t WHERE t::text LIKE '%' || $1 || '%'"
        ))
        .bind(&canary)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(hits, 0, "table {schema}.{table} holds clinical detail");
    }

    let logged = logs.text();
    assert!(
        logged.contains("message applied"),
        "the service logged its work"
    );
    assert!(
        !logged.contains(&canary),
        "a log line holds clinical detail"
    );
}
