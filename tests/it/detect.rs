//! `mentiond detect` on NAB's real Twitter mention counts: the output format the NAB scorer
//! reads, and alerts that land in the labelled anomaly windows.

use crate::helpers::*;

fn nab(name: &str) -> std::path::PathBuf {
    repo()
        .join("../shared/data/nab-realtweets/data/realTweets")
        .join(name)
}

#[test]
fn detect_writes_scores_and_alerts_for_a_nab_series() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let input = nab("Twitter_volume_AAPL.csv");
    let out = ws.run(&["detect", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["timestamp", "value", "anomaly_score", "is_alert"]);
    let input_rows = std::fs::read_to_string(&input).unwrap().lines().count();
    assert_eq!(rows.len(), input_rows, "one output row per input row");
    let alerts: Vec<&str> = rows[1..]
        .iter()
        .filter(|r| r[3] == "1")
        .map(|r| r[0])
        .collect();
    assert!(!alerts.is_empty() && alerts.len() < 20, "{alerts:?}");
    for r in &rows[1..] {
        let s: f64 = r[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
    // NAB's labelled windows for this series: most alerts fall inside one.
    let windows: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("../shared/data/nab-realtweets/labels/realTweets_windows.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let windows: Vec<(String, String)> = windows["realTweets/Twitter_volume_AAPL.csv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w[0].as_str().unwrap()[..19].to_string(),
                w[1].as_str().unwrap()[..19].to_string(),
            )
        })
        .collect();
    let inside = alerts
        .iter()
        .filter(|a| {
            let a: &str = a;
            windows
                .iter()
                .any(|(s, e)| a >= s.as_str() && a <= e.as_str())
        })
        .count();
    let caught = windows
        .iter()
        .filter(|(s, e)| alerts.iter().any(|a| *a >= s.as_str() && *a <= e.as_str()))
        .count();
    assert!(
        caught >= 3,
        "{caught} of {} windows caught: {alerts:?}",
        windows.len()
    );
    assert!(
        inside * 2 > alerts.len(),
        "{inside} of {} alerts in a window",
        alerts.len()
    );
}

#[test]
fn detect_reports_bad_rows_with_their_line() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    let out = ws.run_stdin(
        &["detect", "--input", "-"],
        "timestamp,value\n2015-03-01 00:00:00,3\n2015-03-01 00:05:00,lots\n",
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("line 3") && stderr(&out).contains("lots"),
        "{}",
        stderr(&out)
    );
}
