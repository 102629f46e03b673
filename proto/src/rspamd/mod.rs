//! Rspamd protocol types.
