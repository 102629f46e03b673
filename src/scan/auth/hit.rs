//! What a check reports: a symbol and its options, before the pipeline scores it.

/// One symbol the phase found, with its options in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub symbol: &'static str,
    pub options: Vec<String>,
}

impl Hit {
    pub fn new(symbol: &'static str) -> Hit {
        Hit {
            symbol,
            options: Vec::new(),
        }
    }

    pub fn with(symbol: &'static str, option: impl Into<String>) -> Hit {
        Hit {
            symbol,
            options: vec![option.into()],
        }
    }
}
