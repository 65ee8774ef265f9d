//! Integration tests: one binary, real SQLite files in temp dirs, the real `mentiond` binary.

mod fixtures;
mod fuzz;
mod helpers;
mod smtp;

mod alerts;
mod channels;
mod config_errors;
mod crash;
mod daemon;
mod demo;
mod detect;
mod digests;
mod ingest;
mod instances;
mod query;
mod responses;
mod sentiment;
mod sources;
mod storage;
mod systemd;
