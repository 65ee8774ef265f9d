//! One storage suite, two backends: every scenario runs on a SQLite file and, when
//! `MENTIOND_TEST_POSTGRES_URL` names a PostgreSQL server (`.ci/run` sets it), on a fresh
//! PostgreSQL database created for the test and dropped after it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mentiond::config::{DatabaseLocation, PostgresLocation};
use mentiond::mention::{Label, LangOrigin, Mention, ScoredMention, Sentiment};
use mentiond::sources::Cursor;
use mentiond::store::{
    LabelFilter, LeaseClaim, MentionQuery, NewAlert, NewDigestRun, NewMessage, PageCommit,
    RunState, SourceStatus, Store,
};
use sqlx::Connection;

use crate::helpers::*;

/// A PostgreSQL database made for one test, from the server `MENTIOND_TEST_POSTGRES_URL`
/// names. Its name starts with that URL's database name, so that `.ci/run` can drop any a
/// failed test left behind.
pub struct PgTestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDb {
    /// `None` when no server is configured: the PostgreSQL half of the suite is skipped.
    pub async fn create() -> Option<PgTestDb> {
        let server = std::env::var("MENTIOND_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        let parsed = url::Url::parse(&server).expect("MENTIOND_TEST_POSTGRES_URL is a URL");
        // Databases are created from the server's maintenance database: the one the URL
        // names need not exist.
        let mut admin = parsed.clone();
        admin.set_path("/postgres");
        let admin_url = admin.to_string();
        let base = parsed.path().trim_start_matches('/');
        let base = if base.is_empty() {
            "mentiond_test"
        } else {
            base
        };
        let name = format!(
            "{base}_{}_{}",
            std::process::id(),
            fastrand::u64(..).to_string().get(..10).unwrap_or("0")
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to MENTIOND_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        conn.close().await.ok();
        let mut url = parsed.clone();
        url.set_path(&format!("/{name}"));
        Some(PgTestDb {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    pub fn location(&self) -> DatabaseLocation {
        DatabaseLocation::Postgres(PostgresLocation {
            url: self.url.clone(),
            password: None,
        })
    }

    pub async fn drop_db(self) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to MENTIOND_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .expect("drop the test database");
        conn.close().await.ok();
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn sentiment(label: Label) -> Sentiment {
    let compound = match label {
        Label::Negative => -0.6,
        Label::Neutral => 0.0,
        Label::Positive => 0.6,
    };
    Sentiment {
        compound,
        pos: 0.1,
        neu: 0.8,
        neg: 0.1,
        label,
    }
}

fn post(
    source: &str,
    id: &str,
    text: &str,
    created: &str,
    lang: &str,
    brands: &[&str],
    label: Option<Label>,
) -> ScoredMention {
    let mut engagement = BTreeMap::new();
    engagement.insert("likes".to_string(), 3);
    ScoredMention {
        mention: Mention {
            source: source.into(),
            external_id: id.into(),
            text: text.into(),
            created_at: at(created),
            url: Some(format!("https://example.com/{id}")),
            author: Some(format!("user{id}")),
            author_followers: Some(10),
            lang: Some(lang.into()),
            reply_to: None,
            engagement,
        },
        brands: brands.iter().map(|b| b.to_string()).collect(),
        lang: Some(lang.into()),
        lang_origin: Some(LangOrigin::Post),
        sentiment: label.map(sentiment),
        scorer_version: "v1".into(),
        own_by: None,
    }
}

/// The posts most scenarios start from.
fn corpus() -> Vec<ScoredMention> {
    use Label::*;
    vec![
        post(
            "mastodon",
            "1",
            "Acme delivery was terrible, still waiting for a refund",
            "2026-03-01T08:00:00.123Z",
            "en",
            &["Acme"],
            Some(Negative),
        ),
        post(
            "mastodon",
            "2",
            "Acme coffee is wonderful, I love it",
            "2026-03-01T08:20:00Z",
            "en",
            &["Acme"],
            Some(Positive),
        ),
        post(
            "reddit",
            "3",
            "Acme and Globex both shipped very late. Awful refund process",
            "2026-03-01T08:40:00Z",
            "en",
            &["Acme", "Globex"],
            Some(Negative),
        ),
        post(
            "reddit",
            "4",
            "Globex release notes are out",
            "2026-03-02T11:00:00Z",
            "en",
            &["Globex"],
            Some(Neutral),
        ),
        post(
            "bluesky",
            "5",
            "Il caffè di Acme è arrivato, consegna veloce",
            "2026-03-02T12:05:00Z",
            "it",
            &["Acme"],
            Some(Positive),
        ),
        post(
            "x",
            "6",
            "Acme; refundable fares; \"quoted\" text, with commas",
            "2026-03-03T13:00:00Z",
            "en",
            &["Acme"],
            None,
        ),
    ]
}

fn ids(rows: &[mentiond::store::MentionRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}:{}", r.external_id, r.brand))
        .collect()
}

/// Runs `$scenario(&Store)` on SQLite, and on PostgreSQL when a server is configured.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = mentiond::store::Store::open_sqlite(&dir.path().join("t.db"))
                        .await
                        .unwrap();
                    super::$scenario(&store).await;
                    store.close().await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = super::PgTestDb::create().await else {
                        eprintln!("MENTIOND_TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
                        return;
                    };
                    let store = mentiond::store::Store::open(&db.location()).await.unwrap();
                    assert_eq!(store.backend_name(), "postgres");
                    super::$scenario(&store).await;
                    store.close().await;
                    db.drop_db().await;
                }
            }
        )*
    };
}

on_both_backends!(
    posts_are_stored_once_and_linked_to_new_brands,
    queries_filter_search_and_order_alike,
    series_and_detector_inputs_count_alike,
    alerts_and_outbox_keep_their_states,
    silences_cover_brands_without_case,
    scheduled_digests_happen_once,
    pages_cursors_and_source_health,
    rescoring_and_pruning,
    leases_admit_one_holder_at_a_time,
    own_posts_answer_mentions_and_are_not_mentions,
);

async fn posts_are_stored_once_and_linked_to_new_brands(store: &Store) {
    let now = at("2026-03-04T00:00:00Z");
    let first = store.insert_batch_at(&corpus(), now).await.unwrap();
    assert_eq!((first.stored, first.duplicates), (6, 0));
    let again = store.insert_batch_at(&corpus(), now).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 6));
    // The same post twice in one batch, and a known post now also naming a new brand.
    let mut twice = corpus()[..1].to_vec();
    twice.push(post(
        "mastodon",
        "7",
        "Initech and acme",
        "2026-03-03T14:00:00Z",
        "en",
        &["Initech"],
        None,
    ));
    twice.push(post(
        "mastodon",
        "7",
        "Initech and acme",
        "2026-03-03T14:00:00Z",
        "en",
        &["Initech"],
        None,
    ));
    twice[0].brands.push("initech".into());
    let third = store.insert_batch_at(&twice, now).await.unwrap();
    assert_eq!((third.stored, third.duplicates), (1, 2));
    assert_eq!(store.count_mentions().await.unwrap(), 7);
    let initech = store
        .query(&MentionQuery {
            brand: Some("INITECH".into()),
            oldest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // Brand names compare without case; a brand keeps the spelling it was first stored with.
    assert_eq!(ids(&initech), ["1:initech", "7:initech"]);
    let per = store.mentions_per_brand_and_source().await.unwrap();
    assert_eq!(
        per,
        [
            ("Acme".to_string(), "bluesky".to_string(), 1),
            ("Acme".into(), "mastodon".into(), 2),
            ("Acme".into(), "reddit".into(), 1),
            ("Acme".into(), "x".into(), 1),
            ("Globex".into(), "reddit".into(), 2),
            ("initech".into(), "mastodon".into(), 2),
        ]
    );
}

async fn queries_filter_search_and_order_alike(store: &Store) {
    store
        .insert_batch_at(&corpus(), at("2026-03-04T00:00:00Z"))
        .await
        .unwrap();
    let q = |f: fn(&mut MentionQuery)| {
        let mut query = MentionQuery::default();
        f(&mut query);
        query
    };
    let all = store.query(&MentionQuery::default()).await.unwrap();
    assert_eq!(
        ids(&all),
        [
            "6:Acme", "5:Acme", "4:Globex", "3:Acme", "3:Globex", "2:Acme", "1:Acme"
        ]
    );
    let first = &all[6];
    assert_eq!(first.created_at, "2026-03-01T08:00:00.123Z");
    assert_eq!(first.url.as_deref(), Some("https://example.com/1"));
    assert_eq!(first.label.as_deref(), Some("negative"));
    assert_eq!(first.lang_origin.as_deref(), Some("post"));
    assert_eq!(first.engagement, Some(serde_json::json!({"likes": 3})));
    assert_eq!(first.compound, Some(-0.6));
    assert_eq!(all[0].label, None);

    let cases: Vec<(MentionQuery, Vec<&str>)> = vec![
        (
            q(|q| q.brand = Some("acme".into())),
            vec!["6:Acme", "5:Acme", "3:Acme", "2:Acme", "1:Acme"],
        ),
        (
            q(|q| q.source = Some("Reddit".into())),
            vec!["4:Globex", "3:Acme", "3:Globex"],
        ),
        (
            q(|q| q.label = Some(LabelFilter::Is(Label::Negative))),
            vec!["3:Acme", "3:Globex", "1:Acme"],
        ),
        (q(|q| q.label = Some(LabelFilter::Unscored)), vec!["6:Acme"]),
        (q(|q| q.lang = Some("it".into())), vec!["5:Acme"]),
        (
            q(|q| {
                q.since = Some(at("2026-03-01T08:20:00Z"));
                q.until = Some(at("2026-03-02T12:05:00Z"));
            }),
            vec!["4:Globex", "3:Acme", "3:Globex", "2:Acme"],
        ),
        (
            q(|q| {
                q.limit = Some(2);
                q.oldest_first = true;
            }),
            vec!["1:Acme", "2:Acme"],
        ),
        (q(|q| q.search = Some("waiting".into())), vec!["1:Acme"]),
        (
            q(|q| q.search = Some("refund*".into())),
            vec!["6:Acme", "3:Acme", "3:Globex", "1:Acme"],
        ),
        (
            q(|q| q.search = Some("\"shipped very late\"".into())),
            vec!["3:Acme", "3:Globex"],
        ),
        (q(|q| q.search = Some("\"late shipped\"".into())), vec![]),
        (q(|q| q.search = Some("caffe".into())), vec!["5:Acme"]),
        (
            q(|q| q.search = Some("CAFFÈ veloce".into())),
            vec!["5:Acme"],
        ),
        (
            q(|q| q.search = Some("wonderful OR globex".into())),
            vec!["4:Globex", "3:Acme", "3:Globex", "2:Acme"],
        ),
        (q(|q| q.search = Some("-drop: (table)".into())), vec![]),
        (
            q(|q| {
                q.brand = Some("Acme".into());
                q.search = Some("refund".into());
                q.label = Some(LabelFilter::Is(Label::Negative));
            }),
            vec!["3:Acme", "1:Acme"],
        ),
    ];
    for (query, want) in cases {
        let got = store.query(&query).await.unwrap();
        assert_eq!(ids(&got), want, "{query:?}");
    }
    // PostgreSQL stems English and Italian words ("refund" finds "refundable"); SQLite's
    // index matches whole words, as README says.
    let refund = store
        .query(&q(|q| q.search = Some("refund".into())))
        .await
        .unwrap();
    let stemmed = store.backend_name() == "postgres";
    assert_eq!(
        ids(&refund),
        if stemmed {
            vec!["6:Acme", "3:Acme", "3:Globex", "1:Acme"]
        } else {
            vec!["3:Acme", "3:Globex", "1:Acme"]
        }
    );
    let bad = store
        .query(&MentionQuery {
            search: Some("\"open".into()),
            ..Default::default()
        })
        .await;
    assert!(bad.is_err(), "an unclosed quote is a clear error");
    // Words inside a domain, an address or a link are words, on both backends.
    store
        .insert_batch_at(
            &[post(
                "rss",
                "7",
                "write to help@acme.example or see https://acme.example/refund-policy",
                "2026-03-04T00:00:00Z",
                "en",
                &["Acme"],
                None,
            )],
            at("2026-03-04T01:00:00Z"),
        )
        .await
        .unwrap();
    for term in ["help", "example", "policy", "\"refund policy\""] {
        let query = MentionQuery {
            search: Some(term.to_string()),
            ..Default::default()
        };
        let hits = ids(&store.query(&query).await.unwrap());
        assert!(hits.contains(&"7:Acme".to_string()), "{term}: {hits:?}");
    }
    let mut streamed = 0;
    let n = store
        .query_each(&MentionQuery::default(), |_| {
            streamed += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((n, streamed), (8, 8));
}

async fn series_and_detector_inputs_count_alike(store: &Store) {
    store
        .insert_batch_at(&corpus(), at("2026-03-04T00:00:00Z"))
        .await
        .unwrap();
    let quarters = store
        .quarter_hour_counts(&MentionQuery {
            brand: Some("Acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<(String, u64, u64, u64, u64)> = quarters
        .iter()
        .map(|q| {
            (
                q.start.to_rfc3339(),
                q.total,
                q.positive,
                q.neutral,
                q.negative,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-03-01T08:00:00+00:00".to_string(), 1, 0, 0, 1),
            ("2026-03-01T08:15:00+00:00".into(), 1, 1, 0, 0),
            ("2026-03-01T08:30:00+00:00".into(), 1, 0, 0, 1),
            ("2026-03-02T12:00:00+00:00".into(), 1, 1, 0, 0),
            ("2026-03-03T13:00:00+00:00".into(), 1, 0, 0, 0),
        ]
    );
    // Without a brand a post of two brands counts once.
    let all: u64 = store
        .quarter_hour_counts(&MentionQuery::default())
        .await
        .unwrap()
        .iter()
        .map(|q| q.total)
        .sum();
    assert_eq!(all, 6);

    let buckets = store
        .bucket_counts(
            "acme",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-02T00:00:00Z"),
            1800,
        )
        .await
        .unwrap();
    let t0 = at("2026-03-01T08:00:00Z").timestamp();
    let got: Vec<(i64, u64, u64)> = buckets
        .iter()
        .map(|b| (b.t - t0, b.negative, b.total))
        .collect();
    assert_eq!(got, [(0, 1, 2), (1800, 1, 1)]);

    let worst = store
        .negative_mentions(
            "Acme",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-04T00:00:00Z"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        worst
            .iter()
            .map(|(_, r)| r.external_id.as_str())
            .collect::<Vec<_>>(),
        ["1", "3"]
    );
    let burst = store
        .burst_profile(
            "Acme",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-04T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(burst.negatives, 2);

    // A post stored later for an earlier time is a late arrival.
    assert!(
        !store
            .late_arrival(
                "Acme",
                at("2026-03-04T00:00:00Z"),
                at("2026-03-05T00:00:00Z")
            )
            .await
            .unwrap()
    );
    store
        .insert_batch_at(
            &[post(
                "x",
                "9",
                "acme late post",
                "2026-03-01T09:00:00Z",
                "en",
                &["Acme"],
                None,
            )],
            at("2026-03-04T06:00:00Z"),
        )
        .await
        .unwrap();
    assert!(
        store
            .late_arrival(
                "Acme",
                at("2026-03-04T00:00:00Z"),
                at("2026-03-05T00:00:00Z")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .late_arrival(
                "Globex",
                at("2026-03-04T00:00:00Z"),
                at("2026-03-05T00:00:00Z")
            )
            .await
            .unwrap()
    );
}

fn message(
    kind: &'static str,
    id: &str,
    created: DateTime<Utc>,
    not_before: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        kind,
        brand: Some("Acme".into()),
        message_id: format!("<{id}@mentiond.test>"),
        sender: "mentiond@example.com".into(),
        recipients: vec!["team@example.com".into(), "boss@example.com".into()],
        subject: "Acme: negative mentions".into(),
        message: b"Subject: x\r\n\r\nbody \xff".to_vec(),
        html: Some("<p>body</p>".into()),
        created_at: created,
        not_before,
        channel: None,
    }
}

async fn alerts_and_outbox_keep_their_states(store: &Store) {
    let fired = at("2026-03-01T09:00:00.250Z");
    let alert = NewAlert {
        brand: "Acme".into(),
        fired_at: fired,
        bucket_at: at("2026-03-01T08:30:00Z"),
        window_start: at("2026-03-01T08:00:00Z"),
        window_end: at("2026-03-01T09:00:00Z"),
        observed: 12.0,
        expected: 1.5,
        p_value: 1e-7,
        p_threshold: 1.5e-4,
        threshold_rule: "alpha".into(),
        window_total: Some(20.0),
        usual_share: Some(0.1),
        severe: true,
        worst: vec![3, 1],
        details: serde_json::json!({"series": [1, 2, 3]}),
    };
    let quiet_until = fired + Duration::minutes(30);
    let id = store
        .insert_alert(&alert, |id| {
            vec![message("alert", &format!("a{id}"), fired, quiet_until)]
        })
        .await
        .unwrap();
    let stored = store.alert(id).await.unwrap().expect("the alert");
    assert_eq!(stored.fired_at, "2026-03-01T09:00:00.250Z");
    assert_eq!(
        (stored.severe, stored.worst.clone(), stored.state.as_str()),
        (true, vec![3, 1], "open")
    );
    assert_eq!(
        store.last_alert("Acme").await.unwrap().map(|a| a.id),
        Some(id)
    );
    assert_eq!(store.last_alert("Globex").await.unwrap(), None);
    let between = store
        .alerts_between(at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(between.len(), 1);

    // Held by quiet hours until `not_before`.
    assert!(store.due_messages(fired, 10).await.unwrap().is_empty());
    assert_eq!(store.next_message_due().await.unwrap(), Some(quiet_until));
    let due = store.due_messages(quiet_until, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let msg = &due[0];
    assert_eq!(msg.recipients, ["team@example.com", "boss@example.com"]);
    assert_eq!(msg.message, b"Subject: x\r\n\r\nbody \xff");
    assert_eq!(
        (msg.kind.as_str(), msg.ref_id, msg.state.as_str()),
        ("alert", Some(id), "pending")
    );

    // One sender at a time.
    let lease = Duration::minutes(5);
    assert!(
        store
            .claim_message(msg.id, quiet_until, lease, "daemon")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_message(msg.id, quiet_until, lease, "cli")
            .await
            .unwrap()
    );
    assert!(
        store
            .due_messages(quiet_until, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.release_claims("daemon").await.unwrap(), 1);
    assert!(
        store
            .claim_message(msg.id, quiet_until, lease, "cli")
            .await
            .unwrap()
    );

    let retry = quiet_until + Duration::minutes(2);
    store
        .mark_attempt_failed(msg.id, "421 try later", Some(retry))
        .await
        .unwrap();
    assert_eq!(store.next_message_due().await.unwrap(), Some(retry));
    let after = store.message(msg.id).await.unwrap().unwrap();
    assert_eq!(
        (after.attempts, after.last_error.as_deref()),
        (1, Some("421 try later"))
    );
    store.mark_sent(msg.id, retry).await.unwrap();
    let states = store
        .alert_email_states(at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(states.get(&id).map(String::as_str), Some("sent"));
    assert_eq!(store.next_message_due().await.unwrap(), None);

    // Back to normal, with its own message; a second resolve changes nothing.
    let resolved_at = at("2026-03-01T11:00:00Z");
    store
        .resolve_alert(
            id,
            resolved_at,
            vec![message("recovery", "r1", resolved_at, resolved_at)],
        )
        .await
        .unwrap();
    store
        .resolve_alert(id, at("2026-03-01T12:00:00Z"), Vec::new())
        .await
        .unwrap();
    let stored = store.alert(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.resolved_at.as_deref()),
        ("resolved", Some("2026-03-01T11:00:00.000Z"))
    );
    let pending = store.messages(Some("pending")).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "recovery");
    store
        .mark_attempt_failed(pending[0].id, "550 no such user", None)
        .await
        .unwrap();
    assert_eq!(store.messages(Some("failed")).await.unwrap().len(), 1);
    assert_eq!(store.messages(None).await.unwrap().len(), 2);

    // A silenced alert e-mail says so on the alert.
    let id2 = store
        .insert_alert(
            &NewAlert {
                fired_at: at("2026-03-02T09:00:00Z"),
                ..alert.clone()
            },
            |id| {
                vec![message(
                    "alert",
                    &format!("a{id}"),
                    at("2026-03-02T09:00:00Z"),
                    at("2026-03-02T09:00:00Z"),
                )]
            },
        )
        .await
        .unwrap();
    let msg2 = store
        .due_messages(at("2026-03-02T09:00:00Z"), 10)
        .await
        .unwrap()
        .remove(0);
    store.mark_silenced(&msg2, "known outage").await.unwrap();
    assert_eq!(
        store.alert(id2).await.unwrap().unwrap().silenced.as_deref(),
        Some("known outage")
    );
    // One open alert per brand: a second decision for the same episode (another instance,
    // a stalled one) is refused and queues nothing.
    let before = store.messages(None).await.unwrap().len();
    let again = store
        .insert_alert(
            &NewAlert {
                fired_at: at("2026-03-02T09:05:00Z"),
                ..alert.clone()
            },
            |id| {
                vec![message(
                    "alert",
                    &format!("dup{id}"),
                    at("2026-03-02T09:05:00Z"),
                    at("2026-03-02T09:05:00Z"),
                )]
            },
        )
        .await;
    assert!(again.is_err(), "a second open alert for Acme");
    assert_eq!(store.messages(None).await.unwrap().len(), before);
    // Resolving twice sends "back to normal" once.
    let end = at("2026-03-02T12:00:00Z");
    for _ in 0..2 {
        store
            .resolve_alert(
                id2,
                end,
                vec![message(
                    "recovery",
                    &format!("r2-{}", fastrand::u32(..)),
                    end,
                    end,
                )],
            )
            .await
            .unwrap();
    }
    assert_eq!(store.messages(None).await.unwrap().len(), before + 1);
    // A message id is unique: a resend after a crash is recognised, not queued twice.
    assert!(
        store
            .enqueue(&message("digest", "a1", fired, fired), None)
            .await
            .is_err()
    );
}

async fn silences_cover_brands_without_case(store: &Store) {
    let now = at("2026-03-01T10:00:00Z");
    let id = store
        .add_silence("Acme", now, now + Duration::hours(2), "launch", now)
        .await
        .unwrap();
    let all = store
        .add_silence(
            "*",
            now + Duration::hours(5),
            now + Duration::hours(6),
            "maintenance",
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .active_silence("ACME", now + Duration::minutes(5))
            .await
            .unwrap()
            .map(|s| s.id),
        Some(id)
    );
    assert_eq!(
        store
            .active_silence("Globex", now + Duration::minutes(5))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .active_silence("Globex", now + Duration::hours(5))
            .await
            .unwrap()
            .map(|s| s.id),
        Some(all)
    );
    assert_eq!(
        store
            .active_silence("Acme", now + Duration::hours(2))
            .await
            .unwrap(),
        None
    );
    let listed = store.silences(now).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>(),
        ["launch", "maintenance"]
    );
    assert_eq!(listed[0].ends_at, "2026-03-01T12:00:00.000Z");
    assert!(store.remove_silence(id).await.unwrap());
    assert!(!store.remove_silence(id).await.unwrap());
    assert_eq!(store.silences(now).await.unwrap().len(), 1);
}

async fn scheduled_digests_happen_once(store: &Store) {
    let armed = store
        .arm_digest("weekly", at("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
    let again = store
        .arm_digest("weekly", at("2026-03-05T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (armed, again),
        (at("2026-03-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
    );
    let run = NewDigestRun {
        name: "weekly".into(),
        scheduled_at: at("2026-03-09T08:00:00Z"),
        period_start: at("2026-03-02T08:00:00Z"),
        period_end: at("2026-03-09T08:00:00Z"),
        manual: false,
        state: RunState::Queued,
        note: None,
        mentions: 42,
        created_at: at("2026-03-09T08:00:01Z"),
    };
    let msg = || {
        vec![message(
            "digest",
            &format!("d{}", fastrand::u32(..)),
            at("2026-03-09T08:00:01Z"),
            at("2026-03-09T08:00:01Z"),
        )]
    };
    let first = store.record_digest_run(&run, msg()).await.unwrap();
    let (run_id, outbox_id) = first.expect("recorded");
    assert_eq!(outbox_id.len(), 1);
    assert_eq!(
        store.record_digest_run(&run, msg()).await.unwrap(),
        None,
        "decided once"
    );
    let manual = NewDigestRun {
        manual: true,
        ..run.clone()
    };
    assert!(
        store
            .record_digest_run(&manual, msg())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .record_digest_run(&manual, msg())
            .await
            .unwrap()
            .is_some()
    );
    let empty = NewDigestRun {
        scheduled_at: at("2026-03-16T08:00:00Z"),
        state: RunState::Empty,
        note: Some("nothing to report".into()),
        ..run.clone()
    };
    let (_, no_mail) = store
        .record_digest_run(&empty, msg())
        .await
        .unwrap()
        .unwrap();
    assert!(no_mail.is_empty());
    let last = store.last_scheduled_run("weekly").await.unwrap().unwrap();
    assert_eq!(
        (
            last.scheduled_at.as_str(),
            last.state.as_str(),
            last.email_state.as_deref()
        ),
        ("2026-03-16T08:00:00.000Z", "empty", None)
    );
    let runs = store.digest_runs(10).await.unwrap();
    assert_eq!(runs.len(), 4);
    let queued = runs.iter().find(|r| r.id == run_id).unwrap();
    assert_eq!(
        (
            queued.trigger.as_str(),
            queued.mentions,
            queued.email_state.as_deref()
        ),
        ("schedule", 42, Some("pending"))
    );
}

async fn pages_cursors_and_source_health(store: &Store) {
    let now = at("2026-03-04T10:00:00Z");
    assert_eq!(
        store
            .load_cursor("mastodon:m.example", "tag:acme")
            .await
            .unwrap(),
        None
    );
    let cursor = Cursor {
        state: serde_json::json!({"etag": "W/\"1\""}),
        ..Default::default()
    };
    let page = corpus();
    let outcome = store
        .commit_page(&PageCommit {
            source_id: "mastodon:m.example",
            query: "tag:acme",
            cursor: &cursor,
            mentions: &page[..2],
            fetched: 5,
            unmatched: 2,
            skipped: 1,
            billed: 5,
            at: now,
            lease: None,
        })
        .await
        .unwrap();
    assert_eq!(outcome.stored, 2);
    store
        .commit_page(&PageCommit {
            source_id: "mastodon:m.example",
            query: "tag:acme",
            cursor: &cursor,
            mentions: &page[..3],
            fetched: 3,
            unmatched: 0,
            skipped: 0,
            billed: 3,
            at: now + Duration::minutes(1),
            lease: None,
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .load_cursor("mastodon:m.example", "tag:acme")
            .await
            .unwrap(),
        Some(cursor)
    );
    assert_eq!(
        store
            .billed_in_month("mastodon:m.example", now)
            .await
            .unwrap(),
        8
    );
    assert_eq!(
        store
            .billed_in_month("mastodon:m.example", at("2026-04-01T00:00:00Z"))
            .await
            .unwrap(),
        0
    );
    store
        .log_poll_error(
            "mastodon:m.example",
            "tag:acme",
            now + Duration::minutes(2),
            "HTTP 503",
        )
        .await
        .unwrap();
    let health = store
        .source_health(at("2026-03-04T00:00:00Z"), at("2026-03-05T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(health.len(), 1);
    let h = &health[0];
    assert_eq!(
        (
            h.polls,
            h.errors,
            h.fetched,
            h.stored,
            h.last_error.as_deref()
        ),
        (3, 1, 8, 3, Some("HTTP 503"))
    );

    let mut status = SourceStatus::new("mastodon:m.example", "tag:acme", "mastodon");
    status.state = "failing".into();
    status.last_poll_at = Some("2026-03-04T10:02:00.000Z".into());
    status.last_error = Some("HTTP 503".into());
    status.consecutive_failures = 2;
    status.rate_remaining = Some(299.0);
    status.next_poll_at = Some("2026-03-04T10:07:30.500Z".into());
    store.save_source_status(&status).await.unwrap();
    let loaded = store
        .load_source_status("mastodon:m.example", "tag:acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            loaded.state.as_str(),
            loaded.last_poll_at.as_deref(),
            loaded.next_poll_at.as_deref(),
            loaded.consecutive_failures,
            loaded.rate_remaining
        ),
        (
            "failing",
            Some("2026-03-04T10:02:00.000Z"),
            Some("2026-03-04T10:07:30.500Z"),
            2,
            Some(299.0)
        )
    );
    let listed = store
        .source_statuses(now + Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].stored_last_hour, listed[0].stored_last_day),
        (3, 3)
    );
    let later = store
        .source_statuses(now + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(
        (later[0].stored_last_hour, later[0].stored_last_day),
        (0, 3)
    );
}

async fn rescoring_and_pruning(store: &Store) {
    store
        .insert_batch_at(&corpus(), at("2026-03-04T00:00:00Z"))
        .await
        .unwrap();
    let todo = store.mentions_to_rescore("v2", None, 0, 100).await.unwrap();
    assert_eq!(todo.len(), 6);
    let since = store
        .mentions_to_rescore("v2", Some(at("2026-03-02T00:00:00Z")), 0, 100)
        .await
        .unwrap();
    assert_eq!(since.len(), 3);
    let page = store
        .mentions_to_rescore("v2", None, todo[1].id, 2)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        [todo[2].id, todo[3].id]
    );
    let scores: Vec<_> = todo
        .iter()
        .map(|r| (r.id, Some(sentiment(Label::Negative))))
        .collect();
    store.update_scores("v2", &scores).await.unwrap();
    assert!(
        store
            .mentions_to_rescore("v2", None, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let negative = store
        .query(&MentionQuery {
            label: Some(LabelFilter::Is(Label::Negative)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(negative.len(), 7);
    // A brand's series counts from its links' copy of the label: rescoring keeps it in step.
    let series = store
        .quarter_hour_counts(&MentionQuery {
            brand: Some("Acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (total, negatives): (u64, u64) = series
        .iter()
        .fold((0, 0), |(t, n), q| (t + q.total, n + q.negative));
    assert_eq!((total, negatives), (5, 5));

    // Pruned in batches; links go with their mentions.
    let cutoff = at("2026-03-02T00:00:00Z");
    let first = store.prune_before(cutoff, 2).await.unwrap();
    assert_eq!(first.mentions, 2);
    let second = store.prune_before(cutoff, 2).await.unwrap();
    assert_eq!(second.mentions, 1);
    assert_eq!(store.prune_before(cutoff, 2).await.unwrap().total(), 0);
    let left = store.query(&MentionQuery::default()).await.unwrap();
    assert_eq!(ids(&left), ["6:Acme", "5:Acme", "4:Globex"]);
    assert!(store.quick_check().await.unwrap().is_empty());
}

/// The same posts ingested by the CLI into SQLite and into PostgreSQL give the same series and
/// the same export, byte for byte.
#[tokio::test]
async fn sqlite_and_postgres_answer_the_cli_alike() {
    let Some(db) = PgTestDb::create().await else {
        eprintln!("MENTIOND_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let brands = "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n\n[[brands]]\nname = \"Globex\"\nkeywords = [\"globex\"]\n";
    let lite = Workspace::new(brands);
    let pg = Workspace::new(&format!("[storage]\nurl = \"{}\"\n\n{brands}", db.url));
    let mut lines = Vec::new();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let texts = [
        "acme support never answers, terrible",
        "globex is great, love the new release",
        "acme and globex: both fine today",
        "il servizio di acme è pessimo, rimborso negato",
        "acme refund arrived, thanks!",
    ];
    const SOURCES: [&str; 3] = ["mastodon", "reddit", "bluesky"];
    for i in 0..400 {
        let t = start + Duration::minutes(i * 37 + (i % 7) * 3);
        lines.push(
            serde_json::json!({
                "source": SOURCES[i as usize % 3],
                "external_id": format!("p{i}"),
                "text": texts[i as usize % texts.len()],
                "created_at": t.to_rfc3339(),
                "url": format!("https://example.com/{i}"),
            })
            .to_string(),
        );
    }
    let input = lines.join("\n");
    for ws in [&lite, &pg] {
        let out = ws.run_stdin(&["ingest", "--input", "-"], &input);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let compare = |args: &[&str]| {
        let a = lite.run(args);
        let b = pg.run(args);
        assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
        assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
        assert!(!a.stdout.is_empty());
        assert_eq!(stdout(&a), stdout(&b), "{args:?}");
    };
    for brand in ["Acme", "Globex"] {
        compare(&[
            "query",
            "--brand",
            brand,
            "--group-by",
            "day",
            "--metric",
            "count",
            "--format",
            "csv",
        ]);
        compare(&[
            "query",
            "--brand",
            brand,
            "--group-by",
            "hour",
            "--metric",
            "net",
            "--format",
            "csv",
            "--timezone",
            "Europe/Rome",
        ]);
        compare(&[
            "query",
            "--brand",
            brand,
            "--group-by",
            "week",
            "--metric",
            "negative_share",
            "--format",
            "json",
        ]);
    }
    compare(&["export", "--format", "ndjson"]);
    compare(&[
        "export",
        "--format",
        "csv",
        "--brand",
        "Globex",
        "--since",
        "2026-03-03",
    ]);
    compare(&[
        "query",
        "--search",
        "refund OR rimborso",
        "--format",
        "csv",
        "--limit",
        "50",
    ]);
    // One row per (post, brand): a fifth of the posts name both brands.
    let export = pg.run(&["export", "--format", "ndjson"]);
    assert_eq!(stdout(&export).lines().count(), 480);
    db.drop_db().await;
}

async fn leases_admit_one_holder_at_a_time(store: &Store) {
    let t0 = at("2026-03-04T10:00:00Z");
    let period = Duration::seconds(30);
    let name = "poll:mastodon:m.example:tag:acme";
    assert!(store.acquire_lease(name, "a", t0, period).await.unwrap());
    assert!(
        !store
            .acquire_lease(name, "b", t0 + Duration::seconds(10), period)
            .await
            .unwrap()
    );
    // The holder renews; the other instance waits for a lapse.
    assert!(
        store
            .acquire_lease(name, "a", t0 + Duration::seconds(20), period)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease(name, "b", t0 + Duration::seconds(45), period)
            .await
            .unwrap()
    );
    let lapsed = t0 + Duration::seconds(50);
    assert!(
        store
            .acquire_lease(name, "b", lapsed, period)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease(name, "a", lapsed, period)
            .await
            .unwrap()
    );
    let leases = store.leases().await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        (leases[0].holder.as_str(), leases[0].expires_at.as_str()),
        ("b", "2026-03-04T10:01:20.000Z")
    );

    // A page from the instance that lost the lease changes nothing: no post, no cursor.
    let cursor = Cursor {
        state: serde_json::json!({"from": "a"}),
        ..Default::default()
    };
    let page = corpus();
    let page_from = |holder: &'static str, cursor: &Cursor| {
        let until = lapsed + period;
        let mentions = &page[..2];
        let cursor = cursor.clone();
        async move {
            store
                .commit_page(&PageCommit {
                    source_id: "mastodon:m.example",
                    query: "tag:acme",
                    cursor: &cursor,
                    mentions,
                    fetched: 2,
                    unmatched: 0,
                    skipped: 0,
                    billed: 0,
                    at: lapsed,
                    lease: Some(LeaseClaim {
                        name,
                        holder,
                        until,
                    }),
                })
                .await
        }
    };
    let lost = page_from("a", &cursor).await;
    assert!(
        matches!(lost, Err(mentiond::store::StoreError::LeaseLost { .. })),
        "{lost:?}"
    );
    assert_eq!(store.count_mentions().await.unwrap(), 0);
    assert_eq!(
        store
            .load_cursor("mastodon:m.example", "tag:acme")
            .await
            .unwrap(),
        None
    );
    let kept = page_from("b", &cursor).await.unwrap();
    assert_eq!(kept.stored, 2);
    assert_eq!(
        store
            .load_cursor("mastodon:m.example", "tag:acme")
            .await
            .unwrap(),
        Some(cursor)
    );

    // Released leases are free at once.
    assert!(
        store
            .acquire_lease("alerts", "b", lapsed, period)
            .await
            .unwrap()
    );
    assert_eq!(store.release_leases(Some("b")).await.unwrap(), 2);
    assert!(
        store
            .acquire_lease("alerts", "a", lapsed, period)
            .await
            .unwrap()
    );
    assert_eq!(store.release_leases(None).await.unwrap(), 1);
    assert!(store.leases().await.unwrap().is_empty());
}

/// Fills every table of `store` (mentions, links, alerts, outbox, silences, digests, sources).
async fn fill_every_table(store: &Store) {
    alerts_and_outbox_keep_their_states(store).await;
    scheduled_digests_happen_once(store).await;
    pages_cursors_and_source_health(store).await;
    store
        .add_silence(
            "Acme",
            at("2026-03-01T10:00:00Z"),
            at("2026-03-09T10:00:00Z"),
            "launch week",
            at("2026-03-01T09:00:00Z"),
        )
        .await
        .unwrap();
    let mut more = corpus();
    for (i, p) in more.iter_mut().enumerate() {
        p.mention.external_id = format!("more{i}");
    }
    store
        .insert_batch_at(&more, at("2026-03-05T00:00:00Z"))
        .await
        .unwrap();
}

/// What a store holds, as comparable values.
async fn contents(store: &Store) -> serde_json::Value {
    let mut rows = store
        .query(&MentionQuery {
            oldest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    rows.sort_by(|a, b| (&a.external_id, &a.brand).cmp(&(&b.external_id, &b.brand)));
    let far = at("2030-01-01T00:00:00Z");
    serde_json::json!({
        "mentions": rows,
        "alerts": store.alerts_between(at("2000-01-01T00:00:00Z"), far).await.unwrap(),
        "messages": store.messages(None).await.unwrap().iter().map(|m| {
            (m.id, m.kind.clone(), m.ref_id, m.message_id.clone(), m.recipients.clone(), m.message.clone(),
             m.state.clone(), m.attempts, m.created_at.clone(), m.sent_at.clone())
        }).collect::<Vec<_>>(),
        "digest_runs": store.digest_runs(100).await.unwrap(),
        "silences": store.silences(at("2000-01-01T00:00:00Z")).await.unwrap(),
        "statuses": store.source_statuses(at("2026-03-04T10:30:00Z")).await.unwrap(),
        "cursor": store.load_cursor("mastodon:m.example", "tag:acme").await.unwrap(),
        "billed": store.billed_in_month("mastodon:m.example", at("2026-03-04T10:00:00Z")).await.unwrap(),
        "health": store.source_health(at("2026-03-01T00:00:00Z"), far).await.unwrap(),
    })
}

fn migrate(from: &str, to: &str) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .args([
            "migrate-storage",
            "--from",
            from,
            "--to",
            to,
            "--batch",
            "4",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `copied` column of `table` in migrate-storage's report.
fn copied(report: &str, table: &str) -> u64 {
    report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {table} line in {report}"))
}

#[tokio::test]
async fn migrate_storage_copies_every_table_resumes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let from_path = dir.path().join("from.db");
    let source = Store::open_sqlite(&from_path).await.unwrap();
    fill_every_table(&source).await;
    let from = format!("sqlite://{}", from_path.display());
    let open = |url: &str| {
        let location = mentiond::config::database_location(url, dir.path()).unwrap();
        async move { Store::open(&location).await.unwrap() }
    };

    // SQLite to SQLite always; SQLite to PostgreSQL (and back) when a server is configured.
    let pg = PgTestDb::create().await;
    let mut targets = vec![format!("sqlite://{}", dir.path().join("to.db").display())];
    if let Some(db) = &pg {
        targets.push(db.url.clone());
    }
    for (i, to) in targets.iter().enumerate() {
        let n = source.count_mentions().await.unwrap() as u64;
        let (code, report, log) = migrate(&from, to);
        assert_eq!(code, 0, "{report}\n{log}");
        assert!(!report.contains("MISMATCH"), "{report}");
        assert_eq!(copied(&report, "mentions"), n, "{report}");
        let messages = source.messages(None).await.unwrap().len() as u64;
        assert_eq!(copied(&report, "outbox"), messages, "{report}");
        let dest = open(to).await;
        assert_eq!(contents(&dest).await, contents(&source).await, "{to}");
        // Search works on the copy (SQLite's index and PostgreSQL's column were filled).
        let caffe = MentionQuery {
            search: Some("caffe".into()),
            ..Default::default()
        };
        let found = dest.query(&caffe).await.unwrap();
        assert_eq!(found.len(), 1, "{to}");
        assert_eq!(ids(&found), ids(&source.query(&caffe).await.unwrap()));

        // A second run copies nothing; after new posts in the source, only those.
        let (code, report, _) = migrate(&from, to);
        assert_eq!((code, copied(&report, "mentions")), (0, 0), "{report}");
        let mut new = corpus()[..2].to_vec();
        new[0].mention.external_id = format!("new{i}-0");
        new[1].mention.external_id = format!("new{i}-1");
        source
            .insert_batch_at(&new, at("2026-03-06T00:00:00Z"))
            .await
            .unwrap();
        let (code, report, _) = migrate(&from, to);
        assert_eq!((code, copied(&report, "mentions")), (0, 2), "{report}");
        assert_eq!(copied(&report, "mention_brands"), 2, "{report}");
        assert_eq!(contents(&dest).await, contents(&source).await, "{to}");

        // Ids given after the copy follow the copied ones.
        let mut later = corpus()[..1].to_vec();
        later[0].mention.external_id = "after-the-copy".into();
        let stored = dest
            .insert_batch_at(&later, at("2026-03-07T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(stored.stored, 1);
        let ids = dest
            .mentions_to_rescore("none", None, 0, 1000)
            .await
            .unwrap();
        assert_eq!(ids.len() as u64, n + 3);
        assert_eq!(ids.last().unwrap().id as u64, n + 3, "{to}");

        // And back: the copy copied into a new SQLite file holds the same.
        let back = format!(
            "sqlite://{}",
            dir.path().join(format!("back{i}.db")).display()
        );
        let (code, report, log) = migrate(to, &back);
        assert_eq!(code, 0, "{report}\n{log}");
        assert_eq!(copied(&report, "mentions"), n + 3, "{report}");
        let back = open(&back).await;
        assert_eq!(
            contents(&back).await,
            contents(&dest).await,
            "{to} and back"
        );
        back.close().await;
        dest.close().await;
    }
    // A copy into a database holding other data is refused (its counts could not tell).
    let other = dir.path().join("other.db");
    let other_store = Store::open_sqlite(&other).await.unwrap();
    let mut stranger = corpus()[..1].to_vec();
    stranger[0].mention.external_id = "stranger".into();
    other_store
        .insert_batch_at(&stranger, at("2026-03-04T00:00:00Z"))
        .await
        .unwrap();
    other_store.close().await;
    let (code, report, log) = migrate(&from, &format!("sqlite://{}", other.display()));
    assert_eq!(code, 1, "{report}\n{log}");
    assert!(log.contains("already holds data"), "{log}");
    let (code, _, log) = migrate(&from, "postgres://u:secret@db/x");
    assert_eq!(code, 1);
    assert!(
        log.contains("holds a password") && !log.contains("secret@"),
        "{log}"
    );
    source.close().await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

async fn own_posts_answer_mentions_and_are_not_mentions(store: &Store) {
    let now = at("2026-03-04T00:00:00Z");
    store.insert_batch_at(&corpus(), now).await.unwrap();
    let reply = |source: &str, id: &str, to: &str, when: &str, brand: &str| {
        let mut p = post(
            source,
            id,
            "Thanks, we are on it",
            when,
            "en",
            &[brand],
            None,
        );
        p.mention.reply_to = Some(to.into());
        p.mention.author = Some(format!("{brand}Support"));
        p.own_by = Some(brand.to_string());
        p
    };
    let outcome = store
        .insert_batch_at(
            &[
                reply("mastodon", "r1", "1", "2026-03-01T08:10:00.500Z", "Acme"),
                reply("mastodon", "r1b", "1", "2026-03-01T09:00:00Z", "Acme"),
                // Globex answering post 3 does not answer it for Acme.
                reply("reddit", "r3", "3", "2026-03-01T09:40:00Z", "Globex"),
                // The same id on another platform is another post.
                reply("x", "r2", "2", "2026-03-01T08:30:00Z", "Acme"),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!((outcome.own, outcome.stored), (4, 0));
    assert_eq!(
        store.count_mentions().await.unwrap(),
        6,
        "own posts are not mentions"
    );
    let rows = store
        .response_rows(
            "Acme",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-04T00:00:00Z"),
        )
        .await
        .unwrap();
    let got: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r.external_id.clone(),
                r.first_reply_at
                    .map(|t| (t - r.created_at).num_milliseconds()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1".to_string(), Some(600_377)),
            ("2".into(), None),
            ("3".into(), None),
            ("5".into(), None),
            ("6".into(), None),
        ]
    );
    let globex = store
        .response_rows(
            "Globex",
            at("2026-03-01T00:00:00Z"),
            at("2026-03-04T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        globex
            .iter()
            .map(|r| r.first_reply_at.is_some())
            .collect::<Vec<_>>(),
        [true, false]
    );
    // Stored once, whatever the repeats.
    let again = store
        .insert_batch_at(
            &[reply("x", "r2", "2", "2026-03-01T08:30:00Z", "Acme")],
            now,
        )
        .await
        .unwrap();
    assert_eq!((again.own, again.duplicates), (0, 1));
}
