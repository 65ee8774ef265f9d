//! Every documented configuration error exits with status 2 and names file, line, column and key.

use crate::helpers::*;

/// Runs `check-config` on `config` and returns stderr, asserting exit status 2.
fn rejected(config: &str) -> String {
    let ws = Workspace::new(config);
    let out = ws.run(&["check-config"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let file = ws.config().display().to_string();
    assert!(
        err.contains(&file),
        "error should name the file {file}: {err}"
    );
    err
}

const BRAND: &str = "[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\"]\n";

#[test]
fn example_config_parses() {
    let ws = Workspace::example();
    let out = ws.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("2 brand(s)"), "{summary}");
    assert!(summary.contains("Caffè Aurora"), "{summary}");
}

#[test]
fn unknown_key() {
    let err = rejected(&format!("{BRAND}colour = \"red\"\n"));
    assert!(err.contains(":4:1: brands[0].colour:"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn unknown_top_level_table() {
    let err = rejected(&format!("{BRAND}\n[storrage]\nurl = \"sqlite://x.db\"\n"));
    assert!(err.contains(":5:") && err.contains("storrage"), "{err}");
}

#[test]
fn wrong_type() {
    let err = rejected("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\", 7]\n");
    assert!(
        err.contains(":3:") && err.contains("brands[0].keywords"),
        "{err}"
    );
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn empty_brand_name() {
    let err = rejected(&format!(
        "{BRAND}\n[[brands]]\nname = \"\"\nkeywords = [\"x\"]\n"
    ));
    assert!(err.contains(":6:8: brands[1].name:"), "{err}");
}

#[test]
fn empty_keyword() {
    let err = rejected("[[brands]]\nname = \"Acme\"\nkeywords = [\"acme\", \" \"]\n");
    assert!(
        err.contains(":3:") && err.contains("brands[0].keywords[1]"),
        "{err}"
    );
}

#[test]
fn brand_with_nothing_to_match() {
    let err = rejected("[[brands]]\nname = \"Acme\"\nexclude = [\"anvil\"]\n");
    assert!(
        err.contains(":2:")
            && err.contains("brands[0].name")
            && err.contains("nothing to listen for"),
        "{err}"
    );
}

#[test]
fn no_brand_at_all() {
    let err = rejected("[storage]\nurl = \"sqlite://m.db\"\n");
    assert!(
        err.contains("brands") && err.contains("no brand configured"),
        "{err}"
    );
}

#[test]
fn bad_language_code() {
    let err = rejected(&format!("{BRAND}languages = [\"english\"]\n"));
    assert!(
        err.contains(":4:") && err.contains("brands[0].languages[0]"),
        "{err}"
    );
}

#[test]
fn bad_storage_url() {
    let err = rejected(&format!("[storage]\nurl = \"mysql://db\"\n\n{BRAND}"));
    assert!(err.contains(":2:7: storage.url:"), "{err}");
}

#[test]
fn bad_email_address_and_transport() {
    let err = rejected(&format!("{BRAND}\n[email]\nfrom = \"not an address\"\n"));
    assert!(err.contains(":6:") && err.contains("email.from"), "{err}");
    let err = rejected(&format!("{BRAND}\n[email]\ntransport = \"pigeon\"\n"));
    assert!(
        err.contains(":6:") && err.contains("email.transport"),
        "{err}"
    );
}

#[test]
fn syntax_error() {
    let err = rejected("[[brands]]\nname = \"Acme\nkeywords = [\"acme\"]\n");
    assert!(err.contains(":2:"), "{err}");
}

#[test]
fn missing_file_is_not_a_crash() {
    let out = run_with_stdin(
        std::path::Path::new("/nonexistent/mentiond.toml"),
        &["check-config"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/mentiond.toml"));
}

#[test]
fn config_from_environment_variable() {
    let ws = Workspace::new(BRAND);
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("MENTIOND_CONFIG", ws.config())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 brand(s)"));
}

#[test]
fn secrets_are_refused_inline() {
    let err = rejected(&format!(
        "{BRAND}\n[sources.mastodon]\nbase_url = \"https://mastodon.social\"\ntoken = \"abc\"\n"
    ));
    assert!(
        err.contains(":7:9:")
            && err.contains("sources.mastodon.token")
            && err.contains("token_file"),
        "{err}"
    );
}

#[test]
fn missing_secret_file_names_the_key() {
    let err = rejected(&format!(
        "{BRAND}\n[sources.bluesky]\nidentifier = \"acme.example\"\napp_password_file = \"/nonexistent/bsky\"\n"
    ));
    assert!(
        err.contains(":7:")
            && err.contains("sources.bluesky.app_password_file")
            && err.contains("/nonexistent/bsky"),
        "{err}"
    );
    let err = rejected(&format!(
        "{BRAND}\n[sources.bluesky]\nidentifier = \"acme.example\"\n"
    ));
    assert!(err.contains("app_password_file"), "{err}");
}

#[test]
fn source_values_are_checked() {
    let err = rejected(&format!(
        "{BRAND}\n[sources.mastodon]\nbase_url = \"mastodon.social\"\n"
    ));
    assert!(
        err.contains(":6:") && err.contains("sources.mastodon.base_url"),
        "{err}"
    );
    let err = rejected(&format!(
        "{BRAND}\n[sources.hackernews]\ninterval = \"5\"\n"
    ));
    assert!(
        err.contains(":6:")
            && err.contains("sources.hackernews.interval")
            && err.contains("no unit"),
        "{err}"
    );
    let err = rejected(&format!(
        "{BRAND}\n[[sources.rss]]\nurl = \"https://example.org/feed\"\nbrands = [\"Globex\"]\n"
    ));
    assert!(
        err.contains(":7:") && err.contains("sources.rss[0].brands[0]") && err.contains("Globex"),
        "{err}"
    );
    let err = rejected(&format!(
        "{BRAND}\n[sources.x]\nbearer_token_env = \"PATH\"\n"
    ));
    assert!(err.contains("sources.x.monthly_budget"), "{err}");
}
