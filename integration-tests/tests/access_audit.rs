//! The access audit stays one unbroken hash chain while many requests read personal data at
//! once: the entries are chained in turn (no two claim the same predecessor), with ids in
//! chain order and none skipped, and the chain the director is shown verifies.

use integration_tests::reports::{incident, staff};
use integration_tests::TestBed;
use outreach_auth::Role;
use outreach_intake::sample::Mode;
use tokio::task::JoinSet;

#[tokio::test]
async fn many_concurrent_reads_leave_one_unbroken_chain() {
    let bed = TestBed::with(|settings| settings.database.max_connections = 16).await;
    let service = bed.start().await;
    let named = vec![
        staff("A1", "nurse"),
        staff("A2", "physician"),
        staff("A3", "pharmacist"),
    ];
    bed.publish(&incident("INC-AUDIT-1", named), Mode::Structured)
        .await;
    let cases = bed
        .wait_for_cases(&service, "three cases", |cases| cases.len() == 3)
        .await;

    // 300 reads at once, by several people: lists (three entries in one statement each) and
    // single cases (one entry each).
    let mut reads = JoinSet::new();
    for n in 0..300 {
        let token = bed.token(
            [Role::Director, Role::ProgramManager][n % 2],
            Some(&format!("E9{n:04}")),
        );
        let path = match n % 3 {
            0 => "/v1/cases?limit=50".to_owned(),
            k => format!("/v1/cases/{}", cases[k]["case_id"].as_str().unwrap()),
        };
        let url = format!("http://{}{path}", service.addr);
        reads.spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|response| response.status().as_u16())
        });
    }
    while let Some(read) = reads.join_next().await {
        assert_eq!(read.unwrap().unwrap(), 200);
    }

    let db = bed.db().await;
    let (entries, first, last): (i64, i64, i64) =
        sqlx::query_as("SELECT count(*), min(entry_id), max(entry_id) FROM access_audit")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(entries >= 500, "{entries} entries");
    assert_eq!(
        (first, last),
        (1, entries),
        "ids in chain order, none skipped"
    );
    let forks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT previous_hash FROM access_audit
                                GROUP BY previous_hash HAVING count(*) > 1) shared",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(forks, 0, "two entries follow the same one");
    let (status, audit) = bed.get(&service, "/v1/access-audit").await;
    assert_eq!(status, 200);
    assert_eq!(audit["chain"]["intact"], true, "{}", audit["chain"]);
    assert_eq!(audit["chain"]["verified_through"], entries);
    service.stop().await;
}
