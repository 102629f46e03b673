//! Assembly of the raw message from milter events.
/// The raw message: exact header bytes, blank line, body.
#[derive(Debug, Default, Clone)]
pub struct RawMessage {
    pub data: Vec<u8>,
}
