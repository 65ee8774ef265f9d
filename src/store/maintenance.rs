//! Keeping the database healthy for years: an integrity check at start-up, consistent online
//! backups, and retention (old rows pruned in small batches, so pollers are never held up).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{SqliteStore, StoreError};
use crate::mention::format_time;

/// What one pruning batch removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub mentions: u64,
    pub polls: u64,
    pub messages: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.mentions + self.polls + self.messages
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists: choose another file or pass --force", .0.display())]
    Exists(std::path::PathBuf),
    #[error("cannot write the backup {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`mentiond backup` copies SQLite databases; back up PostgreSQL with pg_dump")]
    Unsupported,
}

impl SqliteStore {
    /// `PRAGMA quick_check`: the problems found, empty when the database is sound.
    pub async fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&self.writer)
            .await?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// A consistent copy of the live database (`VACUUM INTO`: one read transaction, so writers
    /// carry on), written next to `to`, flushed to disk, then renamed into place. Returns its
    /// size in bytes.
    pub async fn backup_to(&self, to: &Path, overwrite: bool) -> Result<u64, BackupError> {
        let io = |source| BackupError::Io {
            path: to.to_path_buf(),
            source,
        };
        if to.is_dir() {
            return Err(io(std::io::Error::other("is a folder")));
        }
        if to.exists() && !overwrite {
            return Err(BackupError::Exists(to.to_path_buf()));
        }
        // Never over the live database (or one of its files).
        if let (Ok(a), Ok(b)) = (to.canonicalize(), self.path.canonicalize()) {
            if a == b || a.to_string_lossy().starts_with(&*b.to_string_lossy()) {
                return Err(io(std::io::Error::other(
                    "that is the database being copied",
                )));
            }
        }
        let dir = match to.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".into());
        // Partial copies left by a backup that was killed are removed first.
        let stale = format!(".{name}.partial-");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&stale) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let partial = dir.join(format!("{stale}{}", std::process::id()));
        let result = async {
            sqlx::query("VACUUM INTO ?")
                .bind(partial.to_string_lossy().into_owned())
                .execute(&self.reader)
                .await
                .map_err(|e| BackupError::Store(e.into()))?;
            let file = std::fs::File::open(&partial).map_err(io)?;
            file.sync_all().map_err(io)?;
            let size = file.metadata().map_err(io)?.len();
            drop(file);
            std::fs::rename(&partial, to).map_err(io)?;
            // The rename itself must survive a power cut.
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    /// Removes up to `batch` mentions published before `before` (with their brand links and
    /// search index entries), poll log rows and delivered or abandoned e-mails older than it, in
    /// one short transaction each. Call until it returns zero.
    pub async fn prune_before(
        &self,
        before: DateTime<Utc>,
        batch: i64,
    ) -> Result<Pruned, StoreError> {
        let before = format_time(&before);
        let mentions = sqlx::query(
            "DELETE FROM mentions WHERE id IN \
             (SELECT id FROM mentions WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        )
        .bind(&before)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        // A brand's own posts go with the mentions they answered.
        let own = sqlx::query(
            "DELETE FROM own_posts WHERE id IN \
             (SELECT id FROM own_posts WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        )
        .bind(&before)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        let polls = sqlx::query(
            "DELETE FROM source_polls WHERE id IN (SELECT id FROM source_polls WHERE at < ? ORDER BY at LIMIT ?)",
        )
        .bind(&before)
        // Poll-log rows are small and indexed by time only: ten times the batch costs about
        // the same as a batch of mentions (which carry links and search entries).
        .bind(batch.saturating_mul(10))
        .execute(&self.writer)
        .await?
        .rows_affected();
        let messages = sqlx::query(
            "DELETE FROM outbox WHERE id IN \
             (SELECT id FROM outbox WHERE state != 'pending' AND created_at < ? LIMIT ?)",
        )
        .bind(&before)
        .bind(batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(Pruned {
            mentions: mentions + own,
            polls,
            messages,
        })
    }
}
