//! Locating errors in the TOML document: line and column from byte offsets, and the dotted key
//! path (`brands[1].name`) of a position or the position of a key path.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::ConfigError;

pub(super) struct Document<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Document<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    pub(super) fn error(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = span.map(|s| self.line_col(s.start)).unwrap_or((1, 1));
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn toml_error(
        &self,
        e: &toml::de::Error,
        tree: Option<&DeTable<'_>>,
    ) -> ConfigError {
        let span = e.span();
        let message = e.message().trim().to_string();
        let mut key = match (&span, tree) {
            (Some(span), Some(tree)) => {
                let mut path = Vec::new();
                path_at(tree, span.start, &mut path);
                join_path(&path)
            }
            _ => String::new(),
        };
        // serde reports a missing field on the table that lacks it: name the field itself.
        if let Some(field) = between(&message, "missing field `", "`") {
            key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
        }
        // An unknown key is reported on the key itself; make sure the key path ends with it.
        if let Some(field) = between(&message, "unknown field `", "`") {
            if !key.ends_with(field) {
                key = if key.is_empty() {
                    field.to_string()
                } else {
                    format!("{key}.{field}")
                };
            }
        }
        self.error(span, &key, message)
    }
}

fn between<'s>(s: &'s str, start: &str, end: &str) -> Option<&'s str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

#[derive(Debug, Clone)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn join_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Fills `path` with the keys leading to the innermost key or value that contains `pos`.
fn path_at(table: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>) {
    for (k, v) in table.iter() {
        if k.span().contains(&pos) {
            path.push(Seg::Key(k.get_ref().to_string()));
            return;
        }
        if v.span().contains(&pos) || contains_in(v.get_ref(), pos) {
            path.push(Seg::Key(k.get_ref().to_string()));
            value_path_at(v.get_ref(), pos, path);
            return;
        }
    }
}

fn value_path_at(value: &DeValue<'_>, pos: usize, path: &mut Vec<Seg>) {
    match value {
        DeValue::Table(t) => path_at(t, pos, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.span().contains(&pos) || contains_in(item.get_ref(), pos) {
                    path.push(Seg::Index(i));
                    value_path_at(item.get_ref(), pos, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Arrays of tables (`[[brands]]`) are spread over the file: their own span may not cover
/// their keys, so look inside.
fn contains_in(value: &DeValue<'_>, pos: usize) -> bool {
    match value {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&pos) || v.span().contains(&pos) || contains_in(v.get_ref(), pos)
        }),
        DeValue::Array(items) => items
            .iter()
            .any(|i| i.span().contains(&pos) || contains_in(i.get_ref(), pos)),
        _ => false,
    }
}

/// Span of the value at `path` (or of the closest existing ancestor).
pub(super) fn span_of(table: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(name) = first else { return None };
    let (k, v) = table.iter().find(|(k, _)| k.get_ref() == name)?;
    if rest.is_empty() {
        return Some(v.span());
    }
    value_span_of(v.get_ref(), rest).or(Some(k.span()))
}

fn value_span_of(value: &DeValue<'_>, path: &[Seg]) -> Option<Range<usize>> {
    match (value, path.first()?) {
        (DeValue::Table(t), Seg::Key(_)) => span_of(t, path),
        (DeValue::Array(items), Seg::Index(i)) => {
            let item = items.get(*i)?;
            if path.len() == 1 {
                // A table inside an array of tables: point at its first key.
                if let DeValue::Table(t) = item.get_ref() {
                    if let Some((k, _)) = t.iter().min_by_key(|(k, _)| k.span().start) {
                        return Some(k.span());
                    }
                }
                return Some(item.span());
            }
            value_span_of(item.get_ref(), &path[1..]).or(Some(item.span()))
        }
        _ => None,
    }
}
