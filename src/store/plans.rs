//! The hot queries' plans, read with `EXPLAIN QUERY PLAN` on a real SQLite file holding data
//! and no statistics (what every install has: mentiond never runs ANALYZE). Each must reach
//! its rows through the index it was written for, never by scanning a whole table: a schema or
//! query change that loses an index fails here, not on an analyst's million rows.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqliteStore;
use super::query::MentionQuery;

/// The plan's lines (`detail` column) for `sql`, every parameter bound to a string (a plan
/// does not depend on the values).
async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
    plan_on(&store.reader, sql).await
}

async fn plan_on(pool: &sqlx::SqlitePool, sql: &str) -> Vec<String> {
    // `?1`..`?9` numbered parameters, or plain `?` ones.
    let numbered = (1..=9).rev().find(|n| sql.contains(&format!("?{n}")));
    let binds = numbered.unwrap_or_else(|| sql.matches('?').count());
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
    for _ in 0..binds {
        q = q.bind("2026-01-05T00:00:00.000Z");
    }
    let rows = q.fetch_all(pool).await.expect("explain");
    rows.iter()
        .map(|r| r.get::<String, _>(3))
        .collect::<Vec<_>>()
}

/// Lines that read a whole table: not a virtual table's own index, not the rows of a
/// subquery (`SCAN (subquery-1)`), which are already the filtered ones.
fn full_scans(plan: &[String]) -> Vec<&String> {
    plan.iter()
        .filter(|d| {
            d.starts_with("SCAN ")
                && !d.starts_with("SCAN (")
                && !d.contains(" USING ")
                && !d.contains("VIRTUAL TABLE")
        })
        .collect()
}

/// Asserts that `sql` reaches its rows through `index` and scans no whole table.
async fn assert_indexed(store: &SqliteStore, what: &str, sql: &str, index: &str) {
    let p = plan(store, sql).await;
    assert!(p.iter().any(|d| d.contains(index)), "{what}: {p:?}");
    assert!(full_scans(&p).is_empty(), "{what}: {p:?}");
}

/// As [`assert_indexed`], and the index alone answers: no mention row is read.
async fn assert_covered(store: &SqliteStore, what: &str, sql: &str, index: &str) {
    let p = plan(store, sql).await;
    assert!(
        p.iter()
            .any(|d| d.contains(&format!("USING COVERING INDEX {index}"))),
        "{what}: {p:?}"
    );
    assert!(
        !p.iter()
            .any(|d| d.starts_with("SEARCH m ") || d.starts_with("SCAN m")),
        "{what} reads mentions: {p:?}"
    );
    assert!(full_scans(&p).is_empty(), "{what}: {p:?}");
}

async fn store_with_mentions() -> (tempfile::TempDir, SqliteStore) {
    use crate::scenario::{BrandSpec, Scenario, generate};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_sqlite(&dir.path().join("plans.db"))
        .await
        .expect("store");
    let brand = |name: &str| BrandSpec {
        name: name.into(),
        negatives_per_day: 30.0,
        negative_share: 0.3,
        italian: 0.3,
    };
    let scenario = Scenario {
        name: "plans".into(),
        start: 1_767_571_200,
        days: 3,
        brands: vec![brand("Acme"), brand("Zentel")],
        events: vec![],
        growth: 0.0,
        late_share: 0.0,
        daily_noise: 0.0,
    };
    let mentions = generate(&scenario, 7).scored();
    assert!(mentions.len() > 300);
    for chunk in mentions.chunks(500) {
        store.insert_batch(chunk).await.expect("insert");
    }
    (dir, store)
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

#[tokio::test]
async fn analysts_queries_read_a_brand_through_its_time_index() {
    let (_dir, store) = store_with_mentions().await;
    let brand_range = MentionQuery {
        brand: Some("Acme".into()),
        since: Some(t("2026-01-05T00:00:00Z")),
        until: Some(t("2026-01-06T00:00:00Z")),
        limit: Some(100),
        ..MentionQuery::default()
    };
    let one_label = MentionQuery {
        label: Some(super::LabelFilter::Is(crate::mention::Label::Negative)),
        ..brand_range.clone()
    };
    let index = "mention_brands_brand_time_label";
    assert_indexed(&store, "rows", &brand_range.list_sql(), index).await;
    assert_covered(&store, "series", &brand_range.series_sql(), index).await;
    assert_covered(
        &store,
        "series of one label",
        &one_label.series_sql(),
        index,
    )
    .await;
    assert_indexed(&store, "rows of one label", &one_label.list_sql(), index).await;
    // A search without a brand starts from the full-text index and fetches the hits by id.
    let search = MentionQuery {
        search: Some("refund".into()),
        limit: Some(100),
        ..MentionQuery::default()
    };
    assert_indexed(&store, "search", &search.list_sql(), "mentions_fts").await;
    // A search with many hits walks the mentions newest first, probing the hit set.
    assert_indexed(
        &store,
        "newest hits",
        &search.newest_hits_sql(),
        "mentions_created_at",
    )
    .await;
    let p = plan(&store, &search.newest_hits_sql()).await;
    assert!(
        !p.iter().any(|d| d == "USE TEMP B-TREE FOR ORDER BY"),
        "streams in time order, no sort of every hit: {p:?}"
    );
}

#[tokio::test]
async fn the_detector_and_the_outbox_read_through_their_indexes() {
    let (_dir, store) = store_with_mentions().await;
    use super::alerts::{BUCKET_COUNTS_SQL, BURST_PROFILE_SQL, DUE_MESSAGES_SQL, LATE_ARRIVAL_SQL};
    let by_brand_time = "mention_brands_brand_time_label";
    assert_covered(&store, "bucket counts", BUCKET_COUNTS_SQL, by_brand_time).await;
    assert_indexed(&store, "burst profile", BURST_PROFILE_SQL, by_brand_time).await;
    assert_indexed(
        &store,
        "late arrivals",
        LATE_ARRIVAL_SQL,
        "mentions_ingested_at",
    )
    .await;
    assert_indexed(&store, "due messages", DUE_MESSAGES_SQL, "outbox_due").await;
    // The check can fail: without its index the late-arrival query walks every mention.
    sqlx::query("DROP INDEX mentions_ingested_at")
        .execute(&store.writer)
        .await
        .expect("drop");
    let p = plan_on(&store.writer, LATE_ARRIVAL_SQL).await;
    assert!(!full_scans(&p).is_empty(), "{p:?}");
}

#[tokio::test]
async fn both_ways_of_finding_the_newest_hits_agree() {
    use sqlx::Row;
    let (_dir, store) = store_with_mentions().await;
    for (search, limit) in [("refund", 20), ("acme", 100), ("\"still waiting\"", 7)] {
        let q = MentionQuery {
            search: Some(search.into()),
            limit: Some(limit),
            ..MentionQuery::default()
        };
        let mut a = q.build().unwrap();
        let mut b = q.build_newest_hits().unwrap();
        let rows_a = a.build().fetch_all(&store.reader).await.unwrap();
        let rows_b = b.build().fetch_all(&store.reader).await.unwrap();
        let key = |r: &sqlx::sqlite::SqliteRow| (r.get::<String, _>(1), r.get::<String, _>(2));
        let a: Vec<_> = rows_a.iter().map(key).collect();
        let b: Vec<_> = rows_b.iter().map(key).collect();
        assert!(!a.is_empty(), "{search}: the data has hits");
        assert_eq!(a, b, "{search}");
    }
}
