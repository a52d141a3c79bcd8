//! The reply every emulated route produces: a status, headers and an optional JSON body. Kept
//! independent of axum so `$batch` can run the same handlers and serialise their replies.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A non-JSON body (`$metadata`, `$batch`): content type and bytes.
    pub raw: Option<(String, Vec<u8>)>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            raw: None,
        }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Reply::json(StatusCode::OK, body)
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            raw: None,
        }
    }

    pub(crate) fn raw(status: StatusCode, content_type: &str, bytes: Vec<u8>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            raw: Some((content_type.to_string(), bytes)),
        }
    }

    /// The OData error body: `{"error":{"code","message"}}`.
    pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message.into()}}),
        )
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        if let Some((_, b)) = &self.raw {
            return b.clone();
        }
        self.body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Reply {
    pub(crate) fn content_type(&self) -> Option<String> {
        match (&self.raw, &self.body) {
            (Some((ct, _)), _) => Some(ct.clone()),
            (None, Some(_)) => Some(JSON.into()),
            (None, None) => None,
        }
    }
}

/// The content type of every JSON reply.
pub(crate) const JSON: &str = "application/json; odata.metadata=minimal";

pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

pub(crate) fn not_found(message: impl Into<String>) -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "NotFound", message)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let content_type = self.content_type();
        let bytes = self.body_bytes();
        let mut resp = (self.status, bytes).into_response();
        let h = resp.headers_mut();
        if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(axum::http::header::CONTENT_TYPE, ct);
        }
        h.insert("odata-version", HeaderValue::from_static("4.0"));
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                h.append(k, v);
            }
        }
        resp
    }
}
