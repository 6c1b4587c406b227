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
use crate::callflow::{self, Pivot, ReqBodyFormat};
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

    /// The `voice_url` of a pivot to `target`: the flow's URL with its query kept after the
    /// name (the token is in the path, and Kazoo appends its parameters to a query with `&`), or
    /// another service's URL as given.
    pub fn target_url(&self, target: PivotTarget<'_>) -> String {
        match target {
            PivotTarget::Flow { name, query: None } => self.flow_url(name),
            PivotTarget::Flow {
                name,
                query: Some(query),
            } => format!("{}?{query}", self.flow_url(name)),
            PivotTarget::Url(url) => url.to_owned(),
        }
    }

    /// Where the PBX uploads recordings (`{{recordings_url}}`, `pf.recordingsUrl`).
    pub fn recordings_url(&self) -> &str {
        &self.recordings_url
    }

    /// The `data` of a pivot node to `target` (a rule's `flow = "…"`, a script's `pf.pivot`),
    /// the one builder of both: the URL, `req_format: "kazoo"` (Kazoo's code defaults to
    /// TwiML), the method — `post` with a form body by default, as OTP 25 refuses a GET URL
    /// with raw `[`/`]` (`Digits[name]=…`) — and the flow's `own` keys over these defaults.
    pub fn node_data(
        &self,
        target: PivotTarget<'_>,
        own: Map<String, Value>,
    ) -> Map<String, Value> {
        self.pivot_with(target, &own).data_with(own)
    }

    /// The typed pivot node to `target`, with the defaults of [`PivotLink::node_data`].
    pub fn pivot(&self, target: PivotTarget<'_>) -> Pivot {
        self.pivot_with(target, &Map::new())
    }

    fn pivot_with(&self, target: PivotTarget<'_>, own: &Map<String, Value>) -> Pivot {
        let mut pivot = Pivot::new(self.target_url(target));
        pivot.method = Some(match self.method {
            PivotMethod::Post => callflow::PivotMethod::Post,
            PivotMethod::Get => callflow::PivotMethod::Get,
        });
        // The form body goes with the POST default, unless the flow names another method.
        let posts = self.method == PivotMethod::Post
            && own.get("method").is_none_or(|method| {
                method
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case("post"))
            });
        if posts {
            pivot.req_body_format = Some(ReqBodyFormat::Form);
        }
        pivot
    }
}

/// Where a pivot goes, as a flow names it: `flow = "…"` in a rule flow, `pf.pivot('…')` in a
/// script. Both read it here, so the same text gives the same URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotTarget<'a> {
    /// A flow of this service, with what follows its name's `?` (kept as written), if any.
    Flow {
        /// The flow's name.
        name: &'a str,
        /// The query, without its `?`.
        query: Option<&'a str>,
    },
    /// Another URL (`http://` or `https://`), used as given.
    Url(&'a str),
}

impl<'a> PivotTarget<'a> {
    /// Reads a target: an `http(s)://` URL, or a flow name (a leading `/` is ignored) with an
    /// optional `?query`. A space, a control or non-ASCII character, or a `#` is refused: Kazoo
    /// sends the URL as it is and appends its parameters, which a fragment would swallow.
    pub fn parse(target: &'a str) -> Result<PivotTarget<'a>, String> {
        if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "pivot target `{target}` holds {bad:?}: percent-encode it (a space is %20)"
            ));
        }
        if target.contains('#') {
            return Err(format!(
                "pivot target `{target}` has a `#` fragment, which would hide the parameters \
                 Kazoo appends to the URL: leave it out"
            ));
        }
        if target.starts_with("http://") || target.starts_with("https://") {
            return Ok(PivotTarget::Url(target));
        }
        let (name, query) = match target.split_once('?') {
            Some((name, query)) => (name, Some(query)),
            None => (target, None),
        };
        let name = name.strip_prefix('/').unwrap_or(name);
        if !crate::flow_name::valid_flow_name(name) {
            return Err(format!(
                "pivot target `{target}` is neither a flow name (letters, digits, _, - and /, \
                 then ?query if needed) nor an http:// or https:// URL"
            ));
        }
        Ok(PivotTarget::Flow { name, query })
    }

    /// The flow pivoted to, when it is one of this service's.
    pub fn flow(self) -> Option<&'a str> {
        match self {
            PivotTarget::Flow { name, .. } => Some(name),
            PivotTarget::Url(_) => None,
        }
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
        let url = |target| link.target_url(PivotTarget::parse(target).unwrap());
        assert_eq!(url("a?step=2"), "http://pf:8080/t/t0k/pivot/a?step=2");
        assert_eq!(url("/a"), "http://pf:8080/t/t0k/pivot/a");
        assert_eq!(url("https://x.example/y"), "https://x.example/y");
        assert_eq!(link.recordings_url(), "http://pf:8080/t/up1/recordings");
        let shown = format!("{link:?}");
        assert!(!shown.contains("t0k") && !shown.contains("up1"), "{shown}");
    }

    #[test]
    fn built_nodes_post_a_form_unless_told() {
        let flow = PivotTarget::parse("a").unwrap();
        let own = |value: serde_json::Value| value.as_object().unwrap().clone();
        let post = PivotLink::plain("http://pf");
        let data = post.node_data(flow, Map::new());
        assert_eq!(
            Value::Object(data),
            serde_json::json!({"req_format": "kazoo", "method": "post", "req_body_format": "form", "voice_url": "http://pf/pivot/a"})
        );
        let data = post.node_data(flow, own(serde_json::json!({"method": "get"})));
        assert_eq!(data.get("req_body_format"), None);
        assert_eq!(data.get("method"), Some(&Value::String("get".into())));
        let data = post.node_data(flow, own(serde_json::json!({"method": "POST"})));
        assert_eq!(
            data.get("req_body_format"),
            Some(&Value::String("form".into()))
        );
        // The flow's own keys win, but never over the URL; its own `req_format` stays.
        let data = post.node_data(
            flow,
            own(serde_json::json!({"voice_url": "http://evil/", "req_format": "twiml", "debug": true})),
        );
        assert_eq!(data["voice_url"], "http://pf/pivot/a");
        assert_eq!(data["req_format"], "twiml");
        assert_eq!(data["debug"], true);
        let get = PivotLink::new("http://pf", None, None, PivotMethod::Get);
        let data = get.node_data(flow, Map::new());
        assert_eq!(data.get("method"), Some(&Value::String("get".into())));
        assert_eq!(data.get("req_body_format"), None);
    }

    #[test]
    fn targets_are_flow_names_with_a_query_or_urls() {
        let flow = |name, query| Ok(PivotTarget::Flow { name, query });
        assert_eq!(PivotTarget::parse("sales/main"), flow("sales/main", None));
        assert_eq!(PivotTarget::parse("/next"), flow("next", None));
        assert_eq!(
            PivotTarget::parse("next?step=2&x=a%20b"),
            flow("next", Some("step=2&x=a%20b"))
        );
        assert_eq!(
            PivotTarget::parse("https://x.example/p?a=1"),
            Ok(PivotTarget::Url("https://x.example/p?a=1"))
        );
        for (bad, why) in [
            ("", "neither a flow name"),
            ("../x", "neither a flow name"),
            ("a.b?x=1", "neither a flow name"),
            ("HTTPS://x.example/", "neither a flow name"),
            ("ftp://x.example/", "neither a flow name"),
            ("next?x=a b", "percent-encode"),
            ("https://x.example/é", "percent-encode"),
            ("next?x=1#top", "fragment"),
        ] {
            let err = PivotTarget::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
