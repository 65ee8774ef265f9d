//! The recorded API responses in `tests/data/fixtures/apis/` (a copy of the shared fixtures with
//! their origins and licences; override the folder with `MENTIOND_FIXTURES`), served by wiremock.

use std::path::PathBuf;

use wiremock::ResponseTemplate;

pub fn dir() -> PathBuf {
    match std::env::var_os("MENTIOND_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => crate::helpers::repo().join("tests/data/fixtures/apis"),
    }
}

pub fn bytes(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&bytes(name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

/// A recorded headers file: `#` comment lines, a status line, headers, then optionally a blank
/// line and a body.
pub struct Recorded {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

pub fn recorded(name: &str) -> Recorded {
    let text = String::from_utf8(bytes(name)).expect("headers file is text");
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip_while(|l| !l.starts_with("HTTP/"));
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    let mut body: Option<String> = None;
    for line in lines {
        if let Some(b) = body.as_mut() {
            b.push_str(line);
            b.push('\n');
            continue;
        }
        if line.trim().is_empty() {
            body = Some(String::new());
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    Recorded {
        status,
        headers,
        body: body.filter(|b| !b.trim().is_empty()),
    }
}

/// A response with a recorded status and headers and a recorded (or given) body.
pub fn response(headers_file: &str, body: Option<Vec<u8>>) -> ResponseTemplate {
    response_as(headers_file, None, body)
}

/// As [`response`], with another status code (the recorded headers on a different answer).
pub fn response_as(
    headers_file: &str,
    status: Option<u16>,
    body: Option<Vec<u8>>,
) -> ResponseTemplate {
    let r = recorded(headers_file);
    let mut t = ResponseTemplate::new(status.unwrap_or(r.status));
    let mut content_type = "application/json".to_string();
    for (k, v) in &r.headers {
        if k == "content-type" {
            content_type = v.clone();
            continue;
        }
        // Length and encoding are the server's business, not the recording's.
        if k == "content-length" || k == "transfer-encoding" || k == "content-encoding" {
            continue;
        }
        t = t.insert_header(k.as_str(), v.as_str());
    }
    match body.or(r.body.map(String::into_bytes)) {
        Some(b) => t.set_body_raw(b, &content_type),
        None => t,
    }
}

pub fn json_response(body: &serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string().into_bytes(), "application/json")
}
