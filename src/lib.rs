//! sluice: a milter-first mail filter.
pub mod message;
pub mod scan;
pub mod verdict;
