//! The URLs this service hands the PBX to call it back: pivot nodes' `voice_url` and the
//! recordings upload URL. With a route protected, the URL carries its token as a path prefix,
//! `PUBLIC_URL/t/TOKEN/pivot/NAME` ([`super::url_token`]): Kazoo can only send what the URL
//! holds, and this form survives a GET (which mangles `user:password@`) and `record_caller`'s
//! appended `/<CALL_ID>.<ext>` (which a query can't precede). The one place pivot URLs and
//! pivot node defaults are made, for rule flows and (through the host) for scripts.
//!
//! The link holds secrets: its `Debug` shows none, and it is never logged.

use serde_json::{Map, Value};

use super::pivot_config::PivotMethod;
use crate::secret::Secret;

/// How to write the URLs of pivots and uploads back to this service.
#[derive(Clone, PartialEq, Eq)]
pub struct PivotLink {
    /// What comes before `/pivot/NAME`: the public URL, then `/t/TOKEN` when `/pivot` is
    /// protected.
    pivot_base: String,
    /// The upload URL: the public URL, `/t/TOKEN` when uploads are protected, `/recordings`.
    recordings_url: String,
    method: PivotMethod,
}

impl std::fmt::Debug for PivotLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivotLink")
            .field("pivot_token", &self.pivot_base.contains("/t/"))
            .field("upload_token", &self.recordings_url.contains("/t/"))
            .field("method", &self.method)
            .finish()
    }
}

/// `public_url`, then `/t/TOKEN` when there is a token.
fn with_token(public_url: &str, token: Option<&Secret>) -> String {
    let base = public_url.trim_end_matches('/');
    match token {
        // Tokens were checked to be URL-safe (or are hex, when derived).
        Some(token) => format!("{base}{}{}", super::url_token::PREFIX, token.expose()),
        None => base.to_owned(),
    }
}

impl PivotLink {
    /// Links to `public_url` with no credentials.
    pub fn plain(public_url: &str) -> PivotLink {
        PivotLink::new(public_url, None, None, PivotMethod::default())
    }

    /// Links carrying `pivot_token` (for `/pivot`) and `upload_token` (for `/recordings`),
    /// building pivot nodes with `method`.
    pub fn new(
        public_url: &str,
        pivot_token: Option<&Secret>,
        upload_token: Option<&Secret>,
        method: PivotMethod,
    ) -> PivotLink {
        PivotLink {
            pivot_base: with_token(public_url, pivot_token),
            recordings_url: format!("{}/recordings", with_token(public_url, upload_token)),
            method,
        }
    }

    /// The `voice_url` of flow `name`.
    pub fn flow_url(&self, name: &str) -> String {
        format!("{}/pivot/{name}", self.pivot_base)
    }

    /// The webhook URL of flow `name`'s end-of-call events (same token as `/pivot`).
    pub fn events_url(&self, name: &str) -> String {
        format!("{}/events/{name}", self.pivot_base)
    }

    /// The `voice_url` of a script's pivot target: an `http(s)://` URL as given, else a flow
    /// of this service (a `?query` after the name stays, as the token is in the path).
    pub fn target_url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else {
            self.flow_url(target.trim_start_matches('/'))
        }
    }

    /// Where the PBX uploads recordings (`{{recordings_url}}`, `pf.recordingsUrl`).
    pub fn recordings_url(&self) -> &str {
        &self.recordings_url
    }

    /// Fills in what a pivot node back to this service has unless it says otherwise:
    /// `req_format: "kazoo"` (Kazoo's code defaults to TwiML), and the method: `post` with a
    /// form body by default, as OTP 25 refuses a GET URL with raw `[`/`]` (`Digits[name]=…`).
    pub fn node_defaults(&self, data: &mut Map<String, Value>) {
        data.entry("req_format")
            .or_insert_with(|| Value::String("kazoo".into()));
        match self.method {
            PivotMethod::Post => {
                data.entry("method")
                    .or_insert_with(|| Value::String("post".into()));
                if data
                    .get("method")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.eq_ignore_ascii_case("post"))
                {
                    data.entry("req_body_format")
                        .or_insert_with(|| Value::String("form".into()));
                }
            }
            PivotMethod::Get => {
                data.entry("method")
                    .or_insert_with(|| Value::String("get".into()));
            }
        }
    }

    /// The `data` of a pivot node to `target` (a script's `pf.pivot`): the defaults, `opts`
    /// over them, and the URL.
    pub fn node_data(&self, target: &str, opts: Map<String, Value>) -> Map<String, Value> {
        let mut data = opts;
        self.node_defaults(&mut data);
        data.insert("voice_url".into(), Value::String(self.target_url(target)));
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_token_in_the_path() {
        let plain = PivotLink::plain("https://pf.example.com/base/");
        assert_eq!(
            plain.flow_url("sales/main"),
            "https://pf.example.com/base/pivot/sales/main"
        );
        assert_eq!(
            plain.recordings_url(),
            "https://pf.example.com/base/recordings"
        );
        let link = PivotLink::new(
            "http://pf:8080",
            Some(&Secret::new("t0k")),
            Some(&Secret::new("up1")),
            PivotMethod::Post,
        );
        assert_eq!(link.flow_url("a"), "http://pf:8080/t/t0k/pivot/a");
        assert_eq!(
            link.target_url("a?step=2"),
            "http://pf:8080/t/t0k/pivot/a?step=2"
        );
        assert_eq!(
            link.target_url("https://x.example/y"),
            "https://x.example/y"
        );
        assert_eq!(link.recordings_url(), "http://pf:8080/t/up1/recordings");
        let shown = format!("{link:?}");
        assert!(!shown.contains("t0k") && !shown.contains("up1"), "{shown}");
    }

    #[test]
    fn built_nodes_post_a_form_unless_told() {
        let post = PivotLink::plain("http://pf");
        let data = post.node_data("a", Map::new());
        assert_eq!(
            Value::Object(data),
            serde_json::json!({"req_format": "kazoo", "method": "post", "req_body_format": "form", "voice_url": "http://pf/pivot/a"})
        );
        let mut own = serde_json::json!({"method": "get"})
            .as_object()
            .unwrap()
            .clone();
        post.node_defaults(&mut own);
        assert_eq!(own.get("req_body_format"), None);
        let get = PivotLink::new("http://pf", None, None, PivotMethod::Get);
        let data = get.node_data("a", Map::new());
        assert_eq!(data.get("method"), Some(&Value::String("get".into())));
        assert_eq!(data.get("req_body_format"), None);
    }
}
