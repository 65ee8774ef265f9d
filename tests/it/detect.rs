//! `mentiond detect`: the output format the NAB scorer reads, alerts on a generated series with a
//! known spike, and (with `--features shared-data`, which needs NAB's data in `../shared`)
//! alerts that land in NAB's labelled anomaly windows.

use crate::helpers::*;

fn nab(name: &str) -> std::path::PathBuf {
    repo()
        .join("../shared/data/nab-realtweets/data/realTweets")
        .join(name)
}

/// A deterministic series of 5-minute counts: 14 days with a daily cycle around `base`, Poisson-like
/// noise from a fixed-seed generator, and from `spike_at` (a row index) one hour at ten times the
/// usual level.
fn generated_series(base: f64, spike_at: usize) -> String {
    let mut out = String::from("timestamp,value\n");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 0..14 * 288 {
        let hour = (i % 288) as f64 / 12.0;
        let mut mean = base * (1.0 + 0.6 * ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin());
        if (spike_at..spike_at + 12).contains(&i) {
            mean *= 10.0;
        }
        // Knuth's Poisson sampler: exact for the small means used here.
        let limit = (-mean).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= uniform();
            if p <= limit {
                break;
            }
            k += 1;
        }
        let t = start + chrono::Duration::minutes(5 * i as i64);
        out.push_str(&format!("{},{k}\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    out
}

#[test]
fn detect_alerts_on_a_generated_spike_and_nowhere_else() {
    let ws = Workspace::new("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n");
    // Day 10, 14:00.
    let spike_at = 10 * 288 + 14 * 12;
    let input = generated_series(6.0, spike_at);
    let out = ws.run_stdin(&["detect", "--input", "-"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["timestamp", "value", "anomaly_score", "is_alert"]);
    assert_eq!(
        rows.len(),
        input.lines().count(),
        "one output row per input row"
    );
    let alerts: Vec<usize> = rows[1..]
        .iter()
        .enumerate()
        .filter(|(_, r)| r[3] == "1")
        .map(|(i, _)| i)
        .collect();
    assert!(
        alerts.iter().any(|i| (spike_at..spike_at + 12).contains(i)),
        "the spike is caught: {alerts:?}"
    );
    assert!(
        alerts.iter().all(|i| (spike_at..spike_at + 24).contains(i)),
        "no alert outside the spike: {alerts:?}"
    );
    for r in &rows[1..] {
        let s: f64 = r[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs NAB's data in ../shared: cargo test --features shared-data"
)]
fn shared_detect_writes_scores_and_alerts_for_a_nab_series() {
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
    // At least half: NAB labels four windows in this series, and its other spikes (3,838
    // tweets in five minutes on 2015-04-14, four times the usual peak) are unlabelled.
    assert!(
        inside * 2 >= alerts.len(),
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
