//! Posts rendered in each platform's response shape (field names and nesting as in the
//! recorded responses of `../shared/fixtures/apis/`).

use chrono::SecondsFormat;

use super::SimPost;

fn time(p: &SimPost) -> String {
    p.created_at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn escape(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// Plain text as Mastodon's HTML: a paragraph, hashtags as links.
fn mastodon_html(base: &str, text: &str) -> String {
    let mut out = String::from("<p>");
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.strip_prefix('#') {
            Some(tag)
                if !tag.is_empty() && tag.chars().next().is_some_and(char::is_alphanumeric) =>
            {
                let clean: String = tag
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let rest = &tag[clean.len()..];
                out.push_str(&format!(
                    "<a href=\"{base}/tags/{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>{}",
                    clean.to_lowercase(),
                    escape(&clean),
                    escape(rest)
                ));
            }
            _ => out.push_str(&escape(word)),
        }
    }
    out.push_str("</p>");
    out
}

pub fn mastodon_status(base: &str, p: &SimPost) -> serde_json::Value {
    let id = p.seq.to_string();
    serde_json::json!({
        "id": id,
        "created_at": time(p),
        "in_reply_to_id": null,
        "in_reply_to_account_id": null,
        "sensitive": false,
        "spoiler_text": "",
        "visibility": "public",
        "language": p.lang,
        "uri": format!("{base}/users/{}/statuses/{id}", p.author),
        "url": format!("{base}/@{}/{id}", p.author),
        "replies_count": p.replies,
        "reblogs_count": p.reposts,
        "favourites_count": p.likes,
        "edited_at": null,
        "content": mastodon_html(base, &p.text),
        "reblog": null,
        "account": {
            "id": format!("{}", 1000 + p.author.len()),
            "username": p.author,
            "acct": p.author,
            "display_name": p.author,
            "url": format!("{base}/@{}", p.author),
            "followers_count": p.followers,
            "following_count": 10,
            "statuses_count": 100
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": null,
        "poll": null
    })
}

pub fn bsky_did(author: &str) -> String {
    let clean: String = author
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("did:plc:{}", clean.to_lowercase())
}

pub fn bsky_handle(author: &str) -> String {
    if author.contains('.') {
        author.to_string()
    } else {
        format!("{author}.bsky.social")
    }
}

pub fn bsky_post(p: &SimPost) -> serde_json::Value {
    let did = bsky_did(&p.author);
    let rkey = format!("3sim{:x}", p.seq);
    let langs: Vec<&str> = p.lang.as_deref().into_iter().collect();
    serde_json::json!({
        "uri": format!("at://{did}/app.bsky.feed.post/{rkey}"),
        "cid": format!("bafysim{:x}", p.seq),
        "author": {"did": did, "handle": bsky_handle(&p.author), "displayName": p.author, "labels": []},
        "record": {"$type": "app.bsky.feed.post", "createdAt": time(p), "langs": langs, "text": p.text},
        "replyCount": p.replies,
        "repostCount": p.reposts,
        "likeCount": p.likes,
        "quoteCount": 0,
        "indexedAt": time(p),
        "labels": []
    })
}

pub fn reddit_name(p: &SimPost) -> String {
    format!("t3_{:x}", p.seq)
}

pub fn reddit_thing(p: &SimPost) -> serde_json::Value {
    let id = format!("{:x}", p.seq);
    let (title, body) = match p.text.split_once('\n') {
        Some((t, b)) => (t.to_string(), b.to_string()),
        None => (p.text.clone(), String::new()),
    };
    serde_json::json!({
        "kind": "t3",
        "data": {
            "name": reddit_name(p),
            "id": id,
            "title": title,
            "selftext": body,
            "author": p.author,
            "author_fullname": format!("t2_{}", p.author),
            "created_utc": p.created_at.timestamp() as f64,
            "permalink": format!("/r/sim/comments/{id}/post/"),
            "url": format!("https://www.reddit.com/r/sim/comments/{id}/post/"),
            "score": p.likes,
            "ups": p.likes,
            "num_comments": p.replies,
            "subreddit": "sim",
            "subreddit_subscribers": 1000
        }
    })
}

fn xml(s: &str) -> String {
    html_escape::encode_text(s).replace('"', "&quot;")
}

pub fn reddit_atom(base: &str, q: &str, posts: &[SimPost]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><id>{base}/search.rss?q={}</id><title>reddit search: {}</title><updated>{}</updated>",
        xml(q),
        xml(q),
        posts
            .first()
            .map(time)
            .unwrap_or_else(|| "2026-01-01T00:00:00.000Z".into())
    );
    for p in posts {
        let id = format!("{:x}", p.seq);
        out.push_str(&format!(
            "<entry><author><name>/u/{}</name></author><content type=\"html\">{}</content><id>{}</id><link href=\"{base}/r/sim/comments/{id}/post/\"/><updated>{}</updated><published>{}</published><title>{}</title></entry>",
            xml(&p.author),
            xml(&format!("<p>{}</p>", escape(&p.text))),
            reddit_name(p),
            time(p),
            time(p),
            xml(p.text.lines().next().unwrap_or_default())
        ));
    }
    out.push_str("</feed>");
    out
}

pub fn hn_hit(p: &SimPost) -> serde_json::Value {
    let id = (p.seq % 100_000_000).to_string();
    let mut hit = serde_json::json!({
        "author": p.author,
        "created_at": p.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "created_at_i": p.created_at.timestamp(),
        "objectID": id,
        "points": p.likes,
        "num_comments": p.replies,
        "_tags": ["story", format!("author_{}", p.author), format!("story_{id}")]
    });
    hit["title"] = serde_json::Value::String(p.text.clone());
    hit
}

pub fn rss_feed(base: &str, name: &str, entries: &[SimPost]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>{}</title><link>{base}/feeds/{}</link><description>Simulated feed</description>",
        xml(name),
        xml(name)
    );
    for p in entries {
        let (title, body) = match p.text.split_once('\n') {
            Some((t, b)) => (t.to_string(), b.to_string()),
            None => (p.text.clone(), String::new()),
        };
        out.push_str(&format!(
            "<item><title>{}</title><link>{base}/reviews/{}</link><guid isPermaLink=\"false\">{name}-{}</guid><pubDate>{}</pubDate><dc:creator>{}</dc:creator><description>{}</description></item>",
            xml(&title),
            p.seq,
            p.seq,
            p.created_at.to_rfc2822(),
            xml(&p.author),
            xml(&body)
        ));
    }
    out.push_str("</channel></rss>");
    out
}

pub fn x_post(p: &SimPost) -> serde_json::Value {
    let id = p.seq.to_string();
    serde_json::json!({
        "id": id,
        "text": p.text,
        "edit_history_tweet_ids": [id],
        "author_id": format!("{}", 2_000_000 + p.author.len() as u64 * 7919 + p.author.bytes().map(u64::from).sum::<u64>()),
        "created_at": time(p),
        "lang": p.lang.clone().unwrap_or_else(|| "und".into()),
        "public_metrics": {"retweet_count": p.reposts, "reply_count": p.replies, "like_count": p.likes, "quote_count": 0, "impression_count": p.likes * 40}
    })
}

pub fn x_user(p: &SimPost) -> serde_json::Value {
    let post = x_post(p);
    serde_json::json!({
        "id": post["author_id"],
        "name": p.author,
        "username": p.author,
        "public_metrics": {"followers_count": p.followers, "following_count": 10, "tweet_count": 100}
    })
}
