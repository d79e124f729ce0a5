use super::*;

#[test]
fn only_a_completed_case_asks_for_feedback() {
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    for (reason, asks) in [
        (CloseReason::Completed, true),
        (CloseReason::Declined, false),
        (CloseReason::Unreachable, false),
        (CloseReason::Withdrawn, false),
        (CloseReason::Merged, false),
    ] {
        let closed = CaseClosed {
            reason,
            closed_at: at,
            merged_into: None,
        };
        assert_eq!(asks_for_feedback(&closed), asks, "{reason:?}");
    }
}

#[test]
fn the_link_is_the_base_and_the_token() {
    let invitations = FeedbackInvitations::new("https://peer-support.example/feedback/");
    assert_eq!(
        invitations.link("abc"),
        "https://peer-support.example/feedback/abc"
    );
    assert_eq!(
        FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE).link("abc"),
        "https://peer-support.example/feedback/abc"
    );
}

#[test]
fn the_email_holds_the_name_the_link_and_the_promise_only() {
    let email = invitation_email(
        Language::En,
        "ada@example.org",
        "Ada\r\nBcc: x@example.org",
        "https://peer-support.example/feedback/t0k3n",
    );
    let fields: Vec<&str> = email
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["body", "subject", "to", "to_name"]);
    assert_eq!(email["to"], "ada@example.org");
    assert_eq!(email["to_name"], "Ada  Bcc: x@example.org");
    let body = email["body"].as_str().unwrap();
    assert!(
        body.starts_with("Hello Ada  Bcc: x@example.org,\n"),
        "{body}"
    );
    assert!(body.contains("\nhttps://peer-support.example/feedback/t0k3n\n"));
    assert!(body.contains("optional"));
    assert!(body.contains("anonymous"));
    assert!(!email["subject"].as_str().unwrap().contains("Ada"));
}

fn closing(case_id: Uuid, sequence: i64) -> StoredEvent {
    let closed = CaseEvent::CaseClosed(CaseClosed {
        reason: CloseReason::Completed,
        closed_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        merged_into: None,
    });
    StoredEvent {
        aggregate_type: case::AGGREGATE_TYPE.into(),
        aggregate_id: case_id.to_string(),
        sequence,
        event_type: "CaseClosed".into(),
        event_version: "1".into(),
        payload: serde_json::to_value(closed).unwrap(),
        metadata: json!({}),
        transaction_id: "10".into(),
        global_position: sequence,
        recorded_at: chrono::DateTime::from_timestamp(1_800_000_001, 0).unwrap(),
    }
}

/// What the store tells of a case of Ada's completed at `completions`.
fn known(case_id: Uuid, completions: Vec<i64>) -> Known {
    let ada = crate::testing::ada();
    let CaseEvent::CaseOpened(opened) = crate::testing::case_opened(case_id, ada) else {
        unreachable!()
    };
    Known {
        completions: HashMap::from([(case_id, completions)]),
        openings: HashMap::from([(case_id, opened)]),
        opt_outs: HashMap::new(),
        languages: HashMap::new(),
    }
}

#[test]
fn a_case_completed_reopened_and_completed_again_in_one_batch_is_asked_once() {
    let case_id = Uuid::from_u128(1);
    let known = known(case_id, vec![2, 4]);
    let invitations = FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE);
    let mut invited = Recorded::default();
    for sequence in [2, 4] {
        let step = Step::Completed(case_id);
        invitations
            .invite(
                &mut invited,
                &known,
                &closing(case_id, sequence),
                step,
                || "t0k3n".into(),
            )
            .unwrap();
    }

    assert_eq!(invited.rows.len(), 1);
    assert_eq!(
        invited.rows[0].id,
        outbox_id(FEEDBACK_INVITATION, &closing(case_id, 2))
    );
    assert_eq!(invited.rows[0].payload["to"], "ada@example.org");
    assert!(invited.rows[0].payload["body"]
        .as_str()
        .unwrap()
        .contains("/feedback/t0k3n\n"));
}

#[test]
fn a_purge_later_in_the_batch_takes_the_unsent_invitation_back() {
    let case_id = Uuid::from_u128(1);
    let known = known(case_id, vec![2]);
    let invitations = FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE);
    let mut invited = Recorded::default();
    let event = closing(case_id, 2);
    invitations
        .invite(
            &mut invited,
            &known,
            &event,
            Step::Completed(case_id),
            || "t".into(),
        )
        .unwrap();
    let purge = Step::Purge(HashSet::from([case_id]));
    invitations
        .invite(&mut invited, &known, &event, purge, || unreachable!())
        .unwrap();

    assert!(invited.rows.is_empty());
    assert_eq!(invited.purged, HashSet::from([case_id]));
}

#[test]
fn a_member_who_opted_out_before_the_closing_is_not_asked() {
    let case_id = Uuid::from_u128(1);
    let mut known = known(case_id, vec![2]);
    // Out at position 1, in again at position 5: the closing at (10, 2) falls between.
    known
        .opt_outs
        .insert("E1".into(), vec![((10, 1), true), ((10, 5), false)]);
    let mut invited = Recorded::default();
    FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE)
        .invite(
            &mut invited,
            &known,
            &closing(case_id, 2),
            Step::Completed(case_id),
            || "t".into(),
        )
        .unwrap();

    assert!(invited.rows.is_empty());
}

/// `apply` against the event store, outbox and tokens of a fresh, migrated database.
mod in_the_database {
    use crate::testing::{case_opened, TestDb};
    use chrono::DateTime;
    use outreach_events::MemberContact;

    use super::*;

    impl TestDb {
        async fn invite(&self, event: &StoredEvent) {
            self.apply_with(&FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE), event)
                .await
                .unwrap();
        }

        /// How many token rows there are: an invitation writes none.
        async fn tokens(&self) -> i64 {
            sqlx::query_scalar("SELECT count(*) FROM feedback_tokens")
                .fetch_one(&self.db.pool)
                .await
                .unwrap()
        }

        /// A case opened for `E1`, with `email`; returns its id.
        async fn open(&self, email: Option<&str>) -> Uuid {
            let case = Uuid::new_v4();
            let opened = case_opened(
                case,
                MemberContact {
                    given_name: "Ada".into(),
                    family_name: "Lovelace".into(),
                    email: email.map(str::to_owned),
                    phone: None,
                    mobile: None,
                    preferred_channel: None,
                },
            );
            self.append(
                case::AGGREGATE_TYPE,
                case,
                1,
                "CaseOpened",
                serde_json::to_value(opened).unwrap(),
            )
            .await;
            case
        }

        async fn close(&self, case: Uuid, sequence: i64, reason: CloseReason) -> StoredEvent {
            let closed = CaseEvent::CaseClosed(CaseClosed {
                reason,
                closed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                merged_into: None,
            });
            self.append(
                case::AGGREGATE_TYPE,
                case,
                sequence,
                "CaseClosed",
                serde_json::to_value(closed).unwrap(),
            )
            .await
        }

        async fn member_event(&self, sequence: i64, event: MemberEvent) {
            self.append(
                "CareTeamMember",
                outreach_domain::ids::derivable_before_27::member_id("E1"),
                sequence,
                &member_event_type(&event),
                serde_json::to_value(event).unwrap(),
            )
            .await;
        }
    }

    fn member_event_type(event: &MemberEvent) -> String {
        match event {
            MemberEvent::OptedOut { .. } => "OptedOut",
            MemberEvent::OptedIn { .. } => "OptedIn",
            MemberEvent::PreferencesStated { .. } => "PreferencesStated",
            MemberEvent::CaseStarted { .. } => "CaseStarted",
            _ => unreachable!(
                "the tests record opt-outs, opt-ins, preferences and cases started only"
            ),
        }
        .to_owned()
    }

    #[tokio::test]
    async fn a_completed_case_queues_one_email_with_a_token_stored_nowhere() {
        let db = TestDb::new().await;
        let case = db.open(Some("ada@example.org")).await;
        let closing = db.close(case, 2, CloseReason::Completed).await;

        db.invite(&closing).await;

        let outbox = db.outbox().await;
        assert_eq!(outbox.len(), 1, "{outbox:?}");
        let (id, kind, channel, key, payload) = &outbox[0];
        assert_eq!(*id, outbox_id(FEEDBACK_INVITATION, &closing));
        assert_eq!(
            (kind.as_str(), channel.as_str(), key),
            ("feedback-invitation", "email", &case.to_string())
        );
        assert_eq!(payload["to"], "ada@example.org");
        let body = payload["body"].as_str().unwrap();
        let token = body
            .lines()
            .find_map(|line| line.strip_prefix("https://peer-support.example/feedback/"))
            .expect("the link is in the body");
        assert_eq!(token.len(), 64);
        for fact in ["Parnassus", "Emergency", "INC-1", "Lovelace", "E1"] {
            assert!(!payload.to_string().contains(fact), "{fact}");
        }

        // Recognised by the program's key, and written nowhere but in the e-mail.
        let key = LinkKey::installed().unwrap();
        assert!(key.verify(token));
        assert_eq!(db.tokens().await, 0);

        // A replay (a rebuild) finds the e-mail there: no second one.
        db.invite(&closing).await;
        assert_eq!(db.outbox().await, outbox);
    }

    /// A case opened on a referrer's suggestion: the member is asked at the address the
    /// program's staff confirmed, never at the suggestion.
    #[tokio::test]
    async fn a_member_whose_contact_was_confirmed_is_asked_at_the_confirmed_address() {
        use outreach_events::contact_confirmation::{ContactConfirmed, ContactToConfirm};
        let db = TestDb::new().await;
        let case = db.open(None).await;
        let contact = |email: &str| MemberContact {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: Some(email.into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        };
        let at = DateTime::from_timestamp(1_799_000_000, 0).unwrap();
        let held = CaseEvent::ContactToConfirm(ContactToConfirm {
            staff_id: "E1".into(),
            personal: Some(contact("suggested@example.org")),
            held_at: at,
        });
        let confirmed = CaseEvent::ContactConfirmed(ContactConfirmed {
            staff_id: "E1".into(),
            as_suggested: false,
            personal: Some(contact("ada@example.org")),
            confirmed_at: at,
        });
        for (sequence, event_type, event) in [
            (2, "ContactToConfirm", held),
            (3, "ContactConfirmed", confirmed),
        ] {
            let payload = serde_json::to_value(event).unwrap();
            db.append(
                outreach_events::case::AGGREGATE_TYPE,
                case,
                sequence,
                event_type,
                payload,
            )
            .await;
        }

        db.invite(&db.close(case, 4, CloseReason::Completed).await)
            .await;

        let outbox = db.outbox().await;
        assert_eq!(outbox.len(), 1, "{outbox:?}");
        assert_eq!(outbox[0].4["to"], "ada@example.org");
    }

    #[tokio::test]
    async fn other_closings_and_members_without_an_address_are_not_asked() {
        let db = TestDb::new().await;
        for reason in [
            CloseReason::Declined,
            CloseReason::Unreachable,
            CloseReason::Withdrawn,
            CloseReason::Merged,
        ] {
            let case = db.open(Some("ada@example.org")).await;
            db.invite(&db.close(case, 2, reason).await).await;
        }
        for email in [None, Some(""), Some("  ")] {
            let case = db.open(email).await;
            db.invite(&db.close(case, 2, CloseReason::Completed).await)
                .await;
        }

        assert!(db.outbox().await.is_empty());
        assert_eq!(db.tokens().await, 0);
    }

    #[tokio::test]
    async fn a_case_completed_again_after_reopening_is_asked_once() {
        let db = TestDb::new().await;
        let case = db.open(Some("ada@example.org")).await;
        let first = db.close(case, 2, CloseReason::Completed).await;
        db.invite(&first).await;
        // Sequence 3 would be the reopening, which this projection does not read.
        let second = db.close(case, 4, CloseReason::Completed).await;
        db.invite(&second).await;

        assert_eq!(db.outbox().await.len(), 1);
        assert_eq!(db.tokens().await, 0);
    }

    #[tokio::test]
    async fn a_member_who_opted_out_is_not_asked_until_they_opt_in_again() {
        let db = TestDb::new().await;
        let at = DateTime::from_timestamp(1_799_500_000, 0).unwrap();
        db.member_event(
            1,
            MemberEvent::OptedOut {
                staff_id: "E1".into(),
                opted_out_at: at,
            },
        )
        .await;
        // The member's record names their cases: its id is derived under their key.
        let started = |case_id| MemberEvent::CaseStarted {
            staff_id: "E1".into(),
            case_id,
            started_at: at,
        };
        let case = db.open(Some("ada@example.org")).await;
        db.member_event(2, started(case)).await;
        db.invite(&db.close(case, 2, CloseReason::Completed).await)
            .await;
        assert!(db.outbox().await.is_empty());

        db.member_event(
            3,
            MemberEvent::OptedIn {
                staff_id: "E1".into(),
                opted_in_at: at,
            },
        )
        .await;
        let case = db.open(Some("ada@example.org")).await;
        db.member_event(4, started(case)).await;
        db.invite(&db.close(case, 2, CloseReason::Completed).await)
            .await;
        assert_eq!(db.outbox().await.len(), 1);
    }

    /// The member's stated language (their supporter-language preference), the latest
    /// statement deciding; none the program speaks: the program's default.
    #[tokio::test]
    async fn the_invitation_is_in_the_members_stated_language() {
        let db = TestDb::new().await;
        let at = DateTime::from_timestamp(1_799_500_000, 0).unwrap();
        let state = |language: Option<&str>| MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: Some(outreach_events::care_team_member::Preferences {
                supporter_language: language.map(Into::into),
                ..Default::default()
            }),
            stated_at: at,
        };
        db.member_event(1, state(Some("fr"))).await;
        db.member_event(2, state(Some("es"))).await;
        let case = db.open(Some("ada@example.org")).await;
        // The member's record names their case: its id is derived under their key.
        db.member_event(
            3,
            MemberEvent::CaseStarted {
                staff_id: "E1".into(),
                case_id: case,
                started_at: at,
            },
        )
        .await;
        db.invite(&db.close(case, 2, CloseReason::Completed).await)
            .await;
        let outbox = db.outbox().await;
        let email = &outbox[0].4;
        let body = email["body"].as_str().unwrap();
        assert!(body.starts_with("Hola, Ada:\n"), "{body}");
        assert!(body.contains("anónimo"), "{body}");
        assert!(
            body.contains("\nhttps://peer-support.example/feedback/"),
            "{body}"
        );
        assert_eq!(
            email["subject"],
            "Apoyo entre pares: dos preguntas, si lo desea (anónimas)"
        );

        // A later statement without a language: back to the default.
        db.member_event(4, state(None)).await;
        let case = db.open(Some("ada@example.org")).await;
        db.member_event(
            5,
            MemberEvent::CaseStarted {
                staff_id: "E1".into(),
                case_id: case,
                started_at: at,
            },
        )
        .await;
        db.invite(&db.close(case, 2, CloseReason::Completed).await)
            .await;
        let outbox = db.outbox().await;
        assert_eq!(outbox.len(), 2);
        assert!(
            outbox
                .iter()
                .any(|row| row.4["body"].as_str().unwrap().starts_with("Hello Ada,\n")),
            "{outbox:?}"
        );
    }
}
