//! sluice: a milter-first mail filter.
pub mod bench;
pub mod message;
pub mod verdict;
