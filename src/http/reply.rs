//! Building replies: JSON (optionally zstd-compressed), Rspamd's error
//! shape with the message as the reason phrase, and `pong`.
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// Every reply body is built in memory: replies are small.
pub type Reply = Response<Full<Bytes>>;

/// Rspamd's clients only look at the product name; the version is ours.
const SERVER: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));
const JSON: &str = "application/json";

/// zstd level for replies: replies are small, speed matters more.
const ZSTD_LEVEL: i32 = 1;

/// Which error domain Rspamd would name (`error_domain`); the controller
/// sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Request or URL problems.
    Protocol,
    /// Body or compression problems.
    Task,
    None,
}

fn base(status: StatusCode, content_type: &str, body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("server", HeaderValue::from_static(SERVER));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    r
}

/// `value` as JSON; compressed with zstd when `compress` (then the reply
/// carries both `Compression: zstd` (Rspamd 3.4) and `Content-Encoding: zstd`).
pub fn json<T: Serialize>(value: &T, compress: bool) -> Reply {
    let body = match serde_json::to_vec(value) {
        Ok(b) => b,
        Err(e) => return error(500, &format!("cannot encode reply: {e}"), Domain::None),
    };
    if !compress {
        return base(StatusCode::OK, JSON, body.into());
    }
    match zstd::bulk::compress(&body, ZSTD_LEVEL) {
        Ok(z) => {
            let mut r = base(StatusCode::OK, JSON, z.into());
            let h = r.headers_mut();
            h.insert("compression", HeaderValue::from_static("zstd"));
            h.insert("content-encoding", HeaderValue::from_static("zstd"));
            r
        }
        Err(e) => error(500, &format!("cannot compress reply: {e}"), Domain::Task),
    }
}

/// Rspamd's error reply: `{"error": msg[, "error_domain": d]}`, with the
/// message repeated as the reason phrase (rspamc prints it).
pub fn error(status: u16, msg: &str, domain: Domain) -> Reply {
    let body = match domain {
        Domain::Protocol => serde_json::json!({"error": msg, "error_domain": "protocol-error"}),
        Domain::Task => serde_json::json!({"error": msg, "error_domain": "task-error"}),
        Domain::None => serde_json::json!({"error": msg}),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = base(status, JSON, body.to_string().into());
    // Reason phrases may not hold control characters; fall back to the standard one.
    let reason: String = msg.chars().filter(|c| !c.is_control()).collect();
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(reason) {
        r.extensions_mut().insert(p);
    }
    r
}

/// Plain text (the `/metrics` exposition, for instance).
pub fn text(content_type: &str, body: String) -> Reply {
    base(StatusCode::OK, content_type, body.into())
}

/// A page or file of the web UI.
pub fn bytes(status: u16, content_type: &str, body: Bytes) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    base(status, content_type, body)
}

/// `/ping` on every listener.
pub fn pong() -> Reply {
    text("text/plain", "pong\r\n".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Reply) -> Bytes {
        r.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn errors_have_rspamd_shape_and_reason() {
        let r = error(500, "invalid command", Domain::Protocol);
        assert_eq!(r.status(), 500);
        let reason = r.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        assert_eq!(reason.as_bytes(), b"invalid command");
        let j: serde_json::Value = serde_json::from_slice(&body(r).await).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"error": "invalid command", "error_domain": "protocol-error"})
        );
        let r = error(401, "Unauthorized", Domain::None);
        assert_eq!(&body(r).await[..], br#"{"error":"Unauthorized"}"#);
    }

    #[tokio::test]
    async fn compressed_json_round_trips() {
        let r = json(&serde_json::json!({"score": 1.5}), true);
        assert_eq!(r.headers()["compression"], "zstd");
        assert_eq!(r.headers()["content-encoding"], "zstd");
        assert_eq!(r.headers()["content-type"], "application/json");
        let plain = zstd::bulk::decompress(&body(r).await, 1024).unwrap();
        assert_eq!(plain, br#"{"score":1.5}"#);
    }
}
