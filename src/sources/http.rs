//! The one HTTP client every source uses: a per-request timeout, a cap on the size of a
//! response, a User-Agent naming mentiond, and the mapping from HTTP outcomes to
//! [`SourceError`]s that the retry policy understands. Rate-limit headers are read here in each
//! platform's dialect.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, RETRY_AFTER};

use super::SourceError;

/// How a platform spells its rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateHeaders {
    /// Mastodon: `X-RateLimit-Remaining`, `X-RateLimit-Reset` as an ISO 8601 time.
    Mastodon,
    /// Bluesky (IETF draft): `RateLimit-Remaining`, `RateLimit-Reset` in epoch seconds (or,
    /// per the draft, seconds from now: both are accepted).
    Draft,
    /// Reddit: `x-ratelimit-remaining` as a decimal, `x-ratelimit-reset` in seconds from now.
    Reddit,
    /// X: `x-rate-limit-remaining`, `x-rate-limit-reset` in epoch seconds.
    X,
    None,
}

/// What the last response said about the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateLimit {
    pub remaining: Option<f64>,
    pub limit: Option<f64>,
    pub reset_at: Option<DateTime<Utc>>,
}

impl RateLimit {
    /// When the window is used up, the time to wait for.
    pub fn exhausted_until(&self) -> Option<DateTime<Utc>> {
        match self.remaining {
            Some(r) if r < 1.0 => self.reset_at,
            _ => None,
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Seconds since the epoch, or seconds from now when the value is too small to be a date.
fn epoch_or_delta(v: f64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    if v > 1.0e9 {
        DateTime::from_timestamp(v.min(1.0e11) as i64, 0)
    } else {
        seconds_from(now, v)
    }
}

/// `now` plus `secs` seconds, for a header value that may be anything.
fn seconds_from(now: DateTime<Utc>, secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    now.checked_add_signed(chrono::Duration::milliseconds(
        (secs.min(1.0e9) * 1000.0) as i64,
    ))
}

pub fn parse_rate_limit(style: RateHeaders, headers: &HeaderMap, now: DateTime<Utc>) -> RateLimit {
    let num = |name: &str| header(headers, name).and_then(|v| v.parse::<f64>().ok());
    match style {
        RateHeaders::Mastodon => RateLimit {
            remaining: num("x-ratelimit-remaining"),
            limit: num("x-ratelimit-limit"),
            reset_at: header(headers, "x-ratelimit-reset")
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc)),
        },
        RateHeaders::Draft => RateLimit {
            remaining: num("ratelimit-remaining"),
            limit: header(headers, "ratelimit-limit")
                .and_then(|v| v.split([',', ';']).next()?.trim().parse().ok()),
            reset_at: num("ratelimit-reset").and_then(|v| epoch_or_delta(v, now)),
        },
        RateHeaders::Reddit => RateLimit {
            remaining: num("x-ratelimit-remaining"),
            limit: None,
            reset_at: num("x-ratelimit-reset")
                .map(|s| now + chrono::Duration::milliseconds((s.max(0.0) * 1000.0) as i64)),
        },
        RateHeaders::X => RateLimit {
            remaining: num("x-rate-limit-remaining"),
            limit: num("x-rate-limit-limit"),
            reset_at: num("x-rate-limit-reset").and_then(|v| epoch_or_delta(v, now)),
        },
        RateHeaders::None => RateLimit::default(),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(now + chrono::Duration::seconds(secs.min(7 * 86_400) as i64));
    }
    DateTime::parse_from_rfc2822(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A response that was read completely and within the size cap.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub rate: RateLimit,
}

impl Response {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            if e.is_eof() {
                SourceError::Transient(format!("truncated JSON response: {e}"))
            } else {
                SourceError::Malformed(format!("response is not the expected JSON: {e}"))
            }
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    max_bytes: u64,
}

impl Http {
    pub fn new(user_agent: &str, timeout: Duration, max_bytes: u64) -> Result<Http, SourceError> {
        let (tls, roots) = crate::tls::client_config();
        crate::tls::warn_if_bundled(roots);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| SourceError::Permanent(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http { client, max_bytes })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request and reads the whole body (up to the cap). Success is any 2xx and 304;
    /// everything else becomes the [`SourceError`] the retry policy acts on.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        style: RateHeaders,
        now: DateTime<Utc>,
    ) -> Result<Response, SourceError> {
        let mut resp = request.send().await.map_err(transport_error)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let rate = parse_rate_limit(style, &headers, now);
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(SourceError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(SourceError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let response = Response {
            status,
            headers,
            body,
            rate,
        };
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        Err(classify_status(&response, now))
    }
}

fn transport_error(e: reqwest::Error) -> SourceError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken off"
    } else {
        "request failed"
    };
    SourceError::Transient(format!("{kind}: {}", error_chain(&e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

/// A short, single-line account of an error body: the `error`/`message`/`detail` field of a
/// JSON body, else the start of the text.
pub fn body_snippet(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let fields: Vec<String> = ["error", "message", "detail", "title", "error_description"]
            .iter()
            .filter_map(|k| match v.get(k) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        if !fields.is_empty() {
            return fields.join(": ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let plain = crate::text::normalise(&text);
    plain.chars().take(160).collect()
}

fn classify_status(r: &Response, now: DateTime<Utc>) -> SourceError {
    let code = r.status.as_u16();
    let message = format!("HTTP {code}: {}", body_snippet(&r.body));
    match code {
        429 => SourceError::RateLimited {
            retry_at: retry_after(&r.headers, now).or(r.rate.reset_at),
            message,
        },
        503 if r.headers.contains_key(RETRY_AFTER) => SourceError::RateLimited {
            retry_at: retry_after(&r.headers, now),
            message,
        },
        401 | 403 => SourceError::Auth(message),
        408 | 425 | 500..=599 => SourceError::Transient(message),
        _ => SourceError::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn now() -> DateTime<Utc> {
        "2026-03-02T14:00:00Z".parse().unwrap()
    }

    #[test]
    fn mastodon_reset_is_an_iso_time() {
        let h = headers(&[
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2026-08-01T14:00:00.000000Z"),
        ]);
        let r = parse_rate_limit(RateHeaders::Mastodon, &h, now());
        assert_eq!(r.remaining, Some(0.0));
        assert_eq!(
            r.exhausted_until(),
            Some("2026-08-01T14:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn reddit_remaining_is_decimal_and_reset_is_relative() {
        let h = headers(&[
            ("x-ratelimit-remaining", "599.0"),
            ("x-ratelimit-reset", "525"),
        ]);
        let r = parse_rate_limit(RateHeaders::Reddit, &h, now());
        assert_eq!(r.remaining, Some(599.0));
        assert_eq!(r.reset_at, Some(now() + chrono::Duration::seconds(525)));
        assert_eq!(r.exhausted_until(), None);
        let h = headers(&[
            ("x-ratelimit-remaining", "0.0"),
            ("x-ratelimit-reset", "247"),
        ]);
        let r = parse_rate_limit(RateHeaders::Reddit, &h, now());
        assert_eq!(
            r.exhausted_until(),
            Some(now() + chrono::Duration::seconds(247))
        );
    }

    #[test]
    fn x_and_bluesky_resets_are_epoch_seconds() {
        let h = headers(&[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1665183229"),
        ]);
        let r = parse_rate_limit(RateHeaders::X, &h, now());
        assert_eq!(r.reset_at, DateTime::from_timestamp(1665183229, 0));
        let h = headers(&[
            ("ratelimit-limit", "3000"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1772460600"),
            ("ratelimit-policy", "3000;w=300"),
        ]);
        let r = parse_rate_limit(RateHeaders::Draft, &h, now());
        assert_eq!(r.limit, Some(3000.0));
        assert_eq!(r.reset_at, DateTime::from_timestamp(1772460600, 0));
        // The draft's delta-seconds form.
        let h = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "30")]);
        let r = parse_rate_limit(RateHeaders::Draft, &h, now());
        assert_eq!(r.reset_at, Some(now() + chrono::Duration::seconds(30)));
    }

    #[test]
    fn retry_after_seconds_or_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3600")]), now()),
            Some(now() + chrono::Duration::hours(1))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Mon, 02 Mar 2026 14:30:00 GMT")]),
                now()
            ),
            Some("2026-03-02T14:30:00Z".parse().unwrap())
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon")]), now()),
            None
        );
    }

    #[test]
    fn snippets_prefer_json_error_fields() {
        assert_eq!(
            body_snippet(br#"{"error":"The access token is invalid"}"#),
            "The access token is invalid"
        );
        assert_eq!(
            body_snippet(br#"{"message":"Unauthorized","error":401}"#),
            "401: Unauthorized"
        );
        assert_eq!(
            body_snippet(b"<html><body><h1>403 Forbidden</h1>Request forbidden by administrative rules.</body></html>"),
            "403 Forbidden Request forbidden by administrative rules."
        );
    }
}
