//! RSS and Atom feeds: Google Alerts, review sites, blogs, Mastodon tag feeds, anything with a
//! feed URL. Polite conditional GETs (the server's `ETag` and `Last-Modified` are sent back),
//! parsing with feed-rs, entries identified by their feed id. Google Alerts wrap every link in
//! a google.com/url redirect, which is unwrapped to the article's address.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Source, SourceError};
use crate::config::FeedConfig;
use crate::mention::{Mention, normalise_lang_tag};

pub struct Feed {
    id: String,
    http: Http,
    url: Url,
    interval: Duration,
    brands: Vec<String>,
}

impl Feed {
    pub fn new(http: Http, config: &FeedConfig) -> Feed {
        Feed {
            id: format!("rss:{}", config.name),
            http,
            url: config.url.clone(),
            interval: config.interval,
            brands: config.brands.clone(),
        }
    }

    async fn poll(&self, req: PageRequest<'_>) -> Result<Page, SourceError> {
        let mut http_req = self.http.client().get(self.url.clone()).header(
            "accept",
            "application/atom+xml, application/rss+xml;q=0.9, application/xml;q=0.8, */*;q=0.1",
        );
        // Validators are sent back exactly as received.
        if let Some(etag) = req.state.get("etag").and_then(|v| v.as_str()) {
            http_req = http_req.header("if-none-match", etag);
        }
        if let Some(modified) = req.state.get("last_modified").and_then(|v| v.as_str()) {
            http_req = http_req.header("if-modified-since", modified);
        }
        let resp = self.http.send(http_req, RateHeaders::None, req.now).await?;
        if resp.status == StatusCode::NOT_MODIFIED {
            return Ok(Page::default());
        }
        let mut page = parse_entries(
            &resp.body,
            "rss",
            &self.id["rss:".len()..],
            req.floor.time,
            req.now,
        )?;
        for item in &mut page.items {
            item.brands = self.brands.clone();
        }
        let mut state = serde_json::Map::new();
        if let Some(etag) = resp.header("etag") {
            state.insert("etag".into(), etag.into());
        }
        if let Some(modified) = resp.header("last-modified") {
            state.insert("last_modified".into(), modified.into());
        }
        page.state = Some(serde_json::Value::Object(state));
        Ok(page)
    }
}

impl Source for Feed {
    fn id(&self) -> &str {
        &self.id
    }

    fn platform(&self) -> &'static str {
        "rss"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        vec!["feed".into()]
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(self.poll(req))
    }
}

/// Parses a feed into items of `platform`, skipping entries published before `floor`.
/// Entries without a date count as published now (they are new to us). `feed_key` makes
/// feed-local entry ids unique (empty: ids are kept as they are).
pub fn parse_entries(
    body: &[u8],
    platform: &str,
    feed_key: &str,
    floor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Page, SourceError> {
    let feed = feed_rs::parser::parse(body)
        .map_err(|e| SourceError::Malformed(format!("not a readable RSS or Atom feed: {e}")))?;
    let feed_lang = feed.language.as_deref().and_then(normalise_lang_tag);
    let mut page = Page::default();
    for entry in feed.entries {
        let dated = entry.published.or(entry.updated).is_some();
        let created_at = entry.published.or(entry.updated).unwrap_or(now).min(now);
        if created_at < floor {
            continue;
        }
        let title = entry
            .title
            .as_ref()
            .map(|t| t.content.clone())
            .unwrap_or_default();
        let body = entry
            .summary
            .as_ref()
            .map(|s| s.content.clone())
            .or_else(|| entry.content.as_ref().and_then(|c| c.body.clone()))
            .unwrap_or_default();
        let text = match (title.trim().is_empty(), body.trim().is_empty()) {
            (false, false) => format!("{title}\n{body}"),
            (false, true) => title,
            (true, false) => body,
            (true, true) => {
                page.skipped.push(format!("entry {} has no text", entry.id));
                continue;
            }
        };
        let url = entry
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or(entry.links.first())
            .map(|l| unwrap_redirect(&l.href));
        // feed-rs names an empty <author> "unknown" (Google Alerts have one on every entry).
        let author = entry
            .authors
            .iter()
            .map(|a| a.name.trim())
            .find(|n| !n.is_empty() && *n != "unknown")
            .map(str::to_string);
        let mention = Mention {
            source: platform.to_string(),
            external_id: global_id(&entry.id, feed_key),
            text,
            created_at,
            url,
            author,
            author_followers: None,
            lang: entry
                .language
                .as_deref()
                .and_then(normalise_lang_tag)
                .or(feed_lang.clone()),
            reply_to: None,
            engagement: Default::default(),
        };
        match mention.validated() {
            Ok(m) => {
                if page.newest.as_ref().is_none_or(|n| n.time < created_at) {
                    page.newest = Some(super::Position::at(created_at));
                }
                let mut item = Item::new(m);
                item.dated = dated;
                page.items.push(item);
            }
            Err(e) => page.skipped.push(format!("entry {}: {e}", entry.id)),
        }
    }
    // A feed is one page; its newest entry does not move a time floor (entries may be
    // published late), duplicates are caught by the store.
    page.newest = None;
    Ok(page)
}

/// Entry ids are unique within a feed; most are URIs or tags, unique everywhere (Google
/// Alerts' `tag:google.com,2013:...`, a permalink). A short local id (`123`, `review-88213`)
/// is prefixed with the feed, so two feeds' entry 123 are two posts.
fn global_id(id: &str, feed_key: &str) -> String {
    let looks_global = id.contains("://")
        || id.starts_with("tag:")
        || id.starts_with("urn:")
        || id.starts_with("t3_")
        || id.starts_with("t1_");
    if looks_global || feed_key.is_empty() {
        id.to_string()
    } else {
        format!("{feed_key}#{id}")
    }
}

/// `https://www.google.com/url?rct=j&sa=t&url=https://news.example.com/...&ct=ga...` ->
/// `https://news.example.com/...`. Other links are returned as they are.
pub fn unwrap_redirect(href: &str) -> String {
    let Ok(url) = Url::parse(href) else {
        return href.to_string();
    };
    let google = url
        .host_str()
        .is_some_and(|h| h == "google.com" || h.ends_with(".google.com"));
    if google && url.path() == "/url" {
        if let Some((_, target)) = url.query_pairs().find(|(k, _)| k == "url" || k == "q") {
            if target.starts_with("http://") || target.starts_with("https://") {
                return target.into_owned();
            }
        }
    }
    href.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_redirects_are_unwrapped() {
        assert_eq!(
            unwrap_redirect(
                "https://www.google.com/url?rct=j&sa=t&url=https://news.example.com/2026/03/02/acme-widgets-recall/&ct=ga&cd=CAI&usg=AOv"
            ),
            "https://news.example.com/2026/03/02/acme-widgets-recall/"
        );
        assert_eq!(
            unwrap_redirect("https://blog.example.org/x?url=y"),
            "https://blog.example.org/x?url=y"
        );
        assert_eq!(
            unwrap_redirect("https://www.google.com/url?url=javascript:alert(1)"),
            "https://www.google.com/url?url=javascript:alert(1)"
        );
    }
}
