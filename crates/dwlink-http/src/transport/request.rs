//! Requests as values: built by the service modules, inspected by unit tests, sent only by
//! [`crate::transport::client::Client`].

use reqwest::Method;
use url::Url;

use dwlink_core::link::error::Api;
use dwlink_core::link::secret::Secret;

#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(serde_json::Value),
    /// Form fields; values are secrets because token requests carry client secrets and codes.
    Form(Vec<(&'static str, Secret)>),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub api: Api,
    pub method: Method,
    /// The logical URL: what the user configured, what every message shows.
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// Safe to send twice: retried on 5xx, timeouts and resets, not only on 429.
    pub idempotent: bool,
    /// Longer than the client's default, for a call known to answer only when done.
    pub timeout: Option<std::time::Duration>,
}

impl ApiRequest {
    pub fn new(api: Api, method: Method, url: Url) -> Self {
        let idempotent = matches!(method, Method::GET | Method::DELETE | Method::PUT);
        ApiRequest {
            api,
            method,
            url,
            headers: vec![("Accept", "application/json".into())],
            body: Body::Empty,
            idempotent,
            timeout: None,
        }
    }

    pub fn get(api: Api, url: Url) -> Self {
        ApiRequest::new(api, Method::GET, url)
    }

    pub fn post(api: Api, url: Url) -> Self {
        ApiRequest::new(api, Method::POST, url)
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = Body::Json(value);
        self
    }

    pub fn form(mut self, fields: Vec<(&'static str, Secret)>) -> Self {
        self.body = Body::Form(fields);
        self
    }

    pub fn raw(mut self, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.body = Body::Raw {
            content_type: content_type.into(),
            bytes,
        };
        self
    }

    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// The OData request headers both F&O and Dataverse expect.
    pub fn odata(self) -> Self {
        self.header("OData-Version", "4.0")
            .header("OData-MaxVersion", "4.0")
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_follows_the_method_unless_told() {
        let u = Url::parse("https://x.example/").unwrap();
        assert!(ApiRequest::get(Api::Dataverse, u.clone()).idempotent);
        assert!(!ApiRequest::post(Api::Dataverse, u.clone()).idempotent);
        assert!(
            ApiRequest::post(Api::DualWrite, u)
                .idempotent(true)
                .idempotent
        );
    }

    #[test]
    fn form_values_never_print() {
        let u = Url::parse("https://login.example/t/oauth2/v2.0/token").unwrap();
        let r =
            ApiRequest::post(Api::Login, u).form(vec![("client_secret", Secret::new("s3cr3t"))]);
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }

    #[test]
    fn headers_replace_case_insensitively() {
        let u = Url::parse("https://x.example/").unwrap();
        let r = ApiRequest::get(Api::Dataverse, u).header("accept", "text/plain");
        assert_eq!(r.header_value("Accept"), Some("text/plain"));
        assert_eq!(r.headers.len(), 1);
    }
}
