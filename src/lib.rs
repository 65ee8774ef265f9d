//! mentiond: a self-hosted social-listening daemon.
//!
//! Data flows one way: sources produce [`mention::Mention`]s, the [`pipeline`] normalises,
//! matches ([`matcher`]) and scores ([`sentiment`]) them into [`mention::ScoredMention`]s, and
//! the [`store`] keeps them for analysts and for spike detection.

pub mod alerts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod detect;
pub mod digest;
pub mod generate;
pub mod matcher;
pub mod mention;
pub mod notify;
pub mod pipeline;
pub mod responses;
pub mod scenario;
pub mod schedule;
pub mod sentiment;
pub mod series;
pub mod simulator;
pub mod sources;
pub mod store;
pub mod text;
pub mod tls;
