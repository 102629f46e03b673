//! sluice: a milter-first mail filter.
pub mod config;
pub mod message;
pub mod verdict;
