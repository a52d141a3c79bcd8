//! HTTP Archive 1.2 (the format browser developer tools open): what `--record FILE` writes and
//! `dwlink conformance` reads, and the JSON-shape comparison conformance reports with. No I/O
//! beyond the recording file itself, no network: the client hooks [`writer::Recorder`] in, the
//! replayer feeds [`shape::compare`].

pub mod entry;
pub mod limits;
pub mod read;
pub mod redact;
pub mod shape;
pub mod stream;
pub mod writer;

use serde::Deserialize;

/// The members of a recording that replay and comparison use; everything else a HAR may hold
/// (pages, timings, cookies, other tools' extensions) is accepted and ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Har {
    pub log: Log,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Log {
    pub version: String,
    #[serde(default)]
    pub creator: Option<Creator>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Creator {
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(default, rename = "startedDateTime")]
    pub started: Option<String>,
    pub request: Request,
    pub response: Response,
    /// dwlink's own extension: which service (`finance-and-operations`, `dataverse`,
    /// `dual-write`, `power-platform-admin`, `login`) and which attempt.
    #[serde(default, rename = "_dwlink")]
    pub dwlink: Option<DwlinkExt>,
    /// Where the recorder says a body was cut.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DwlinkExt {
    pub api: String,
    #[serde(default)]
    pub attempt: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default, rename = "postData")]
    pub post_data: Option<PostData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PostData {
    #[serde(default, rename = "mimeType")]
    pub mime_type: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Response {
    pub status: u16,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Content {
    #[serde(default, rename = "mimeType")]
    pub mime_type: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl Entry {
    /// When the request was sent, if the recording says so in a form that parses.
    pub fn started_at(&self) -> Option<jiff::Timestamp> {
        self.started.as_deref()?.parse().ok()
    }

    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The reply body, when the recording kept one.
    pub fn reply_text(&self) -> Option<&str> {
        self.response.content.as_ref()?.text.as_deref()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}
