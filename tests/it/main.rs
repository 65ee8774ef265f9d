//! Integration tests: one binary, real SQLite files in temp dirs, the real `mentiond` binary.

mod helpers;

mod config_errors;
mod ingest;
mod query;
