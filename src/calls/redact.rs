//! Keeps credentials out of everything a step shows or keeps (`/calls`, the store, the console,
//! the server's log lines): pivot nodes the service builds carry the `/pivot` credentials in
//! their `voice_url` (`user:password@`, `auth_token=` or a `/t/TOKEN/` path prefix), and a script may print such a node, throw
//! an error quoting it, or a request may carry a secret in a parameter. So a [`Masker`] masks
//! both the URL shapes and every configured secret's value, wherever it appears in a string.

use std::borrow::Cow;

use serde_json::Value;

/// What a masked credential is replaced with.
pub const MASK: &str = "***";

/// Masks credentials in text: URL user passwords, `auth_token=` values and the configured
/// secrets (as written, JSON-escaped and percent-encoded).
#[derive(Default, Clone)]
pub struct Masker {
    /// Every form a secret may be printed in, longest first so that a secret containing
    /// another is masked whole.
    needles: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("secrets", &self.needles.len())
            .finish()
    }
}

impl Masker {
    /// A masker for these secret values (empty ones are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            let escaped = escaped
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .unwrap_or(secret);
            for form in [
                secret.to_owned(),
                escaped.to_owned(),
                percent_encode(secret),
            ] {
                if !needles.contains(&form) {
                    needles.push(form);
                }
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Masker { needles }
    }

    /// `text` with its credentials masked, or `None` when it holds none (the usual case, which
    /// costs a few substring searches and no allocation).
    pub fn mask(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for needle in &self.needles {
            let current = out.as_deref().unwrap_or(text);
            if memchr::memmem::find(current.as_bytes(), needle.as_bytes()).is_some() {
                out = Some(current.replace(needle.as_str(), MASK));
            }
        }
        match mask_urls(out.as_deref().unwrap_or(text)) {
            Some(clean) => Some(clean),
            None => out,
        }
    }

    /// Masks every string inside `value` (not object keys: they are the view's own names or
    /// parameter names, never where a credential goes).
    pub fn mask_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(clean) = self.mask(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_value(v)),
            _ => {}
        }
    }

    /// JSON text with its credentials masked: unchanged (no copy) when it holds none; else
    /// masked string by string, so that the JSON structure itself is never touched.
    pub fn mask_json(&self, text: String) -> String {
        if self.mask(&text).is_none() {
            return text;
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(mut value) => {
                self.mask_value(&mut value);
                value.to_string()
            }
            // Not JSON after all: mask it as plain text.
            Err(_) => self.mask(&text).unwrap_or(text),
        }
    }
}

/// Characters that end a URL's authority or a query value in plain or JSON text.
fn ends_value(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '"' | '\\' | '\'' | '<' | '>') || c.is_whitespace()
}

/// `s` with every URL user password and `auth_token` value masked, or `None` when it holds none
/// (found without copying `s`: most text holds URLs without credentials).
fn mask_urls(s: &str) -> Option<String> {
    let mut spans = password_spans(s);
    spans.extend(token_spans(s));
    spans.extend(path_token_spans(s));
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for (start, end) in spans {
        if start < copied {
            continue;
        }
        out.push_str(&s[copied..start]);
        out.push_str(MASK);
        copied = end;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// Byte ranges of the passwords in `scheme://user:password@host` URLs of `s`.
fn password_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&s.as_bytes()[from..], b"://") {
        let start = from + found + 3;
        let end = s[start..].find(ends_value).map_or(s.len(), |e| start + e);
        from = end.max(start);
        let Some(at) = s[start..end].rfind('@') else {
            continue;
        };
        let Some(colon) = s[start..start + at].find(':') else {
            continue;
        };
        let password = (start + colon + 1, start + at);
        if &s[password.0..password.1] != MASK {
            spans.push(password);
        }
    }
    spans
}

/// Byte ranges of the values of `auth_token=` query parameters in `s`.
fn token_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&s.as_bytes()[from..], b"auth_token=") {
        let at = from + found;
        let start = at + "auth_token=".len();
        from = start;
        // Only the query parameter itself, not e.g. `my_auth_token=`.
        if at > 0 && !matches!(s.as_bytes()[at - 1], b'?' | b'&') {
            continue;
        }
        let end = s[start..]
            .find(|c: char| c == '&' || ends_value(c))
            .map_or(s.len(), |e| start + e);
        if end > start && &s[start..end] != MASK {
            spans.push((start, end));
        }
    }
    spans
}

/// A URL or path with its credentials masked (`/t/***/`, `:***@`, `auth_token=***`), for log
/// lines that name a request's path.
pub fn mask_url(s: &str) -> Cow<'_, str> {
    match mask_urls(s) {
        Some(clean) => Cow::Owned(clean),
        None => Cow::Borrowed(s),
    }
}

/// Byte ranges of the tokens of `/t/TOKEN/` prefixes in `s`. The route must follow, so that
/// ordinary text with a `/t/` in it stays as it is.
fn path_token_spans(s: &str) -> Vec<(usize, usize)> {
    const ROUTES: [&str; 3] = ["pivot", "events", "recordings"];
    let prefix = crate::auth::url_token::PREFIX;
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&s.as_bytes()[from..], prefix.as_bytes()) {
        let start = from + found + prefix.len();
        from = start;
        let Some(len) = s[start..].find('/') else {
            break;
        };
        let end = start + len;
        let route = &s[end + 1..];
        let before_route = ROUTES.iter().any(|r| {
            route.starts_with(r)
                && matches!(
                    route.as_bytes().get(r.len()),
                    None | Some(b'/' | b'?' | b'"')
                )
        });
        if before_route && len > 0 && &s[start..end] != MASK {
            spans.push((start, end));
        }
    }
    spans
}

/// `s` with every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (how `encodeURIComponent` and Kazoo
/// write a value into a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_and_tokens_in_urls_are_masked() {
        let mut tree = json!({"module": "pivot", "data": {
            "voice_url": "https://kazoo:s3cret@pivot.example.com/pivot/next?x=1&auth_token=tok&y=2"
        }, "children": {"_": {"module": "pivot", "data": {
            "voice_url": "http://h/pivot/a?auth_token=abc"}}}});
        Masker::default().mask_value(&mut tree);
        assert_eq!(
            tree["data"]["voice_url"],
            "https://kazoo:***@pivot.example.com/pivot/next?x=1&auth_token=***&y=2"
        );
        assert_eq!(
            tree["children"]["_"]["data"]["voice_url"],
            "http://h/pivot/a?auth_token=***"
        );
        let line = "node {\"voice_url\":\"http://kazoo:pw1@h/pivot/x\"} and http://u:pw2@h2 too";
        let clean = Masker::default().mask(line).unwrap();
        assert!(!clean.contains("pw1") && !clean.contains("pw2"), "{clean}");
        assert!(clean.contains("kazoo:***@h/pivot/x"), "{clean}");
        let both = "http://k:pw@h/pivot/x?auth_token=t0k&b=2 then auth_token=t1";
        assert_eq!(
            Masker::default().mask(both).unwrap(),
            "http://k:***@h/pivot/x?auth_token=***&b=2 then auth_token=t1"
        );
    }

    #[test]
    fn text_without_secrets_is_left_alone() {
        let m = Masker::new(["hunter2-secret"]);
        for clean in [
            "mail me at a@b.c, see http://x/y@z",
            "my_auth_token=1",
            "http://user@host/no-password",
            "already masked: http://kazoo:***@h/pivot/x?auth_token=***&a=1",
        ] {
            assert_eq!(m.mask(clean), None, "{clean}");
        }
        let text = json!({"a": "b"}).to_string();
        assert_eq!(m.mask_json(text.clone()), text);
    }

    #[test]
    fn configured_secrets_are_masked_in_any_shape() {
        let m = Masker::new(["pw-1/\"x\"", "tok"]);
        assert_eq!(m.mask("say pw-1/\"x\" now").unwrap(), "say *** now");
        assert_eq!(m.mask("enc pw-1%2F%22x%22").unwrap(), "enc ***");
        let text = json!({"k": "a pw-1/\"x\" b", "tok": 1}).to_string();
        let clean = m.mask_json(text);
        assert_eq!(clean, json!({"k": "a *** b", "tok": 1}).to_string());
        // The JSON structure is never masked, even when a secret looks like a key.
        let m = Masker::new(["step"]);
        let clean = m.mask_json(json!({"step": "one step"}).to_string());
        assert_eq!(clean, json!({"step": "one ***"}).to_string());
    }

    #[test]
    fn tokens_in_url_paths_are_masked() {
        let m = Masker::default();
        assert_eq!(
            m.mask("https://pf.example.com/base/t/tok-123/pivot/next")
                .as_deref(),
            Some("https://pf.example.com/base/t/***/pivot/next")
        );
        assert_eq!(
            m.mask("http://h/t/up-9/recordings").as_deref(),
            Some("http://h/t/***/recordings")
        );
        assert_eq!(mask_url("/t/abc/events/x?y=1"), "/t/***/events/x?y=1");
        assert_eq!(m.mask("press 1/t/2/pivot-ish"), None);
        assert!(matches!(mask_url("/pivot/x"), Cow::Borrowed(_)));
    }
}
