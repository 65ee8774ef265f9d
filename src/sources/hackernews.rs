//! Hacker News through Algolia's `search_by_date` (no key): stories and comments newer than
//! the floor, newest first. Paging narrows the time range (`created_at_i <= oldest seen`)
//! rather than using page numbers, which Algolia caps; a page of posts that all share one
//! second falls back to page numbers so paging always makes progress.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::http::{Http, RateHeaders};
use super::{Item, Page, PageRequest, Position, Resume, Source, SourceError, brand_keywords};
use crate::config::{BrandConfig, HackerNewsConfig};
use crate::mention::Mention;

const PAGE: usize = 100;
const INDEX_SLACK: chrono::Duration = chrono::Duration::minutes(10);

pub struct HackerNews {
    http: Http,
    base: Url,
    interval: Duration,
    queries: Vec<String>,
}

impl HackerNews {
    pub fn new(http: Http, config: &HackerNewsConfig, brands: &[BrandConfig]) -> HackerNews {
        HackerNews {
            http,
            base: config.base_url.clone(),
            interval: config.interval,
            queries: brand_keywords(brands)
                .into_iter()
                .map(|k| format!("search:{k}"))
                .collect(),
        }
    }

    async fn search(&self, req: PageRequest<'_>, terms: &str) -> Result<Page, SourceError> {
        // Algolia indexes with a delay: each round looks a little below the floor again; posts
        // already stored are not stored again.
        let floor = (req.floor.time - INDEX_SLACK).timestamp();
        let before = req
            .resume
            .and_then(|r| r.before.as_ref())
            .map(|p| p.time.timestamp());
        let page_no: u32 = req
            .resume
            .and_then(|r| r.token.as_deref())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let mut filters = format!("created_at_i>={floor}");
        if let Some(b) = before {
            filters.push_str(&format!(",created_at_i<={b}"));
        }
        let mut url = self
            .base
            .join("/api/v1/search_by_date")
            .map_err(|e| SourceError::Permanent(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            // Quoted, so a phrase is matched as a phrase.
            let query = if terms.contains(char::is_whitespace) {
                format!("\"{terms}\"")
            } else {
                terms.to_string()
            };
            q.append_pair("query", &query)
                .append_pair("tags", "(story,comment)")
                .append_pair("numericFilters", &filters)
                .append_pair("hitsPerPage", &PAGE.to_string());
            if page_no > 0 {
                q.append_pair("page", &page_no.to_string());
            }
        }
        let resp = self
            .http
            .send(self.http.client().get(url), RateHeaders::None, req.now)
            .await?;
        let result: SearchResult = resp.json()?;
        let mut page = Page::default();
        let n = result.hits.len();
        let mut times = Vec::with_capacity(n);
        for hit in result.hits {
            let hit: Hit = match serde_json::from_value(hit) {
                Ok(h) => h,
                Err(e) => {
                    page.skipped.push(format!("unreadable hit: {e}"));
                    continue;
                }
            };
            let Some(time) = DateTime::from_timestamp(hit.created_at_i, 0) else {
                page.skipped
                    .push(format!("hit {}: bad created_at_i", hit.object_id));
                continue;
            };
            times.push(time);
            match hit.into_mention(time) {
                Ok(m) => page.items.push(Item::new(m)),
                Err(reason) => page.skipped.push(reason),
            }
        }
        let newest = times.iter().max().copied();
        let oldest = times.iter().min().copied();
        page.newest = newest.map(Position::at);
        let more = n >= PAGE && result.nb_pages.is_none_or(|p| p > page_no + 1);
        if more {
            if let (Some(oldest), Some(newest)) = (oldest, newest) {
                page.next = Some(if oldest == newest && before == Some(oldest.timestamp()) {
                    // Every post on the page has the same second: page within it.
                    Resume {
                        token: Some((page_no + 1).to_string()),
                        before: Some(Position::at(oldest)),
                    }
                } else {
                    Resume {
                        token: None,
                        before: Some(Position::at(oldest)),
                    }
                });
            }
        }
        Ok(page)
    }
}

impl Source for HackerNews {
    fn id(&self) -> &str {
        "hackernews"
    }

    fn platform(&self) -> &'static str {
        "hackernews"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn queries(&self) -> Vec<String> {
        self.queries.clone()
    }

    fn fetch<'a>(&'a self, req: PageRequest<'a>) -> BoxFuture<'a, Result<Page, SourceError>> {
        Box::pin(async move {
            match req.query.strip_prefix("search:") {
                Some(terms) => self.search(req, terms).await,
                None => Err(SourceError::Permanent(format!(
                    "unknown query {:?}",
                    req.query
                ))),
            }
        })
    }
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(default)]
    hits: Vec<serde_json::Value>,
    #[serde(default, rename = "nbPages")]
    nb_pages: Option<u32>,
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "objectID")]
    object_id: String,
    created_at_i: i64,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    story_text: Option<String>,
    #[serde(default)]
    comment_text: Option<String>,
    #[serde(default)]
    points: Option<i64>,
    #[serde(default)]
    num_comments: Option<u64>,
    #[serde(default)]
    parent_id: Option<i64>,
}

impl Hit {
    fn into_mention(self, created_at: DateTime<Utc>) -> Result<Mention, String> {
        let text = match (&self.comment_text, &self.title) {
            (Some(comment), _) => comment.clone(),
            (None, Some(title)) => {
                match self.story_text.as_deref().filter(|s| !s.trim().is_empty()) {
                    Some(body) => format!("{title}\n{body}"),
                    None => title.clone(),
                }
            }
            (None, None) => {
                return Err(format!(
                    "hit {} has neither title nor comment",
                    self.object_id
                ));
            }
        };
        let mut engagement = std::collections::BTreeMap::new();
        if let Some(p) = self.points {
            engagement.insert("points".to_string(), p.max(0) as u64);
        }
        if let Some(c) = self.num_comments {
            engagement.insert("comments".to_string(), c);
        }
        Mention {
            source: "hackernews".into(),
            url: Some(format!(
                "https://news.ycombinator.com/item?id={}",
                self.object_id
            )),
            external_id: self.object_id.clone(),
            text,
            created_at,
            author: self.author,
            author_followers: None,
            lang: None,
            reply_to: self.parent_id.map(|p| p.to_string()),
            engagement,
        }
        .validated()
        .map_err(|e| format!("hit {}: {e}", self.object_id))
    }
}
