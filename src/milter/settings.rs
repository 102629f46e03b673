//! The knobs a milter session obeys: the `milter` section's typed settings,
//! defined (with their defaults) once, in the config layer.
pub use crate::config::milter::{OversizeAction, SessionSettings};
