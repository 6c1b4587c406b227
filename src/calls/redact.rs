//! Keeps credentials out of the exchange log: pivot nodes the service builds carry the `/pivot`
//! credentials in their `voice_url` (`user:password@`, `auth_token=` or a `/t/TOKEN/` path
//! prefix), and the log is shown in the console, the terminal and the store.

use std::borrow::Cow;

use serde_json::Value;

/// The tree with every password in a URL's user part and every `auth_token` value masked;
/// borrowed when there was nothing to mask (the usual case).
pub fn redact(tree: &Value) -> Cow<'_, Value> {
    if !holds_secret(tree) {
        return Cow::Borrowed(tree);
    }
    let mut owned = tree.clone();
    mask(&mut owned);
    Cow::Owned(owned)
}

fn holds_secret(v: &Value) -> bool {
    match v {
        Value::String(s) => masked(s).is_some(),
        Value::Array(items) => items.iter().any(holds_secret),
        Value::Object(map) => map.values().any(holds_secret),
        _ => false,
    }
}

fn mask(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(clean) = masked(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::Object(map) => map.values_mut().for_each(mask),
        _ => {}
    }
}

/// `s` with its secrets masked, or `None` when it holds none.
fn masked(s: &str) -> Option<String> {
    let mut out = s.to_owned();
    let mut changed = false;
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let replacement = format!("{user}:***");
            out.replace_range(scheme_end + 3..scheme_end + 3 + at, &replacement);
            changed = true;
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..].find("auth_token=") {
        let at = from + found;
        let start = at + "auth_token=".len();
        // Only the query parameter itself, not e.g. `my_auth_token=`.
        let preceded_ok = at == 0 || matches!(out.as_bytes()[at - 1], b'?' | b'&');
        let end = out[start..]
            .find(['&', '#'])
            .map_or(out.len(), |e| start + e);
        if preceded_ok && &out[start..end] != "***" {
            out.replace_range(start..end, "***");
            changed = true;
        }
        from = start;
    }
    if let Some(clean) = mask_path_token(&out) {
        out = clean;
        changed = true;
    }
    changed.then_some(out)
}

/// A URL or path with the token of any `/t/TOKEN/` prefix masked (`/t/***/`), for log lines.
pub fn mask_url(s: &str) -> Cow<'_, str> {
    match masked(s) {
        Some(clean) => Cow::Owned(clean),
        None => Cow::Borrowed(s),
    }
}

/// `s` with each `/t/TOKEN/` before a route of the PBX's masked; `None` when it holds none.
/// The route must follow, so that ordinary text with a `/t/` in it stays as it is.
fn mask_path_token(s: &str) -> Option<String> {
    const ROUTES: [&str; 3] = ["pivot", "events", "recordings"];
    let prefix = crate::auth::url_token::PREFIX;
    let mut out = s.to_owned();
    let mut changed = false;
    let mut from = 0;
    while let Some(found) = out[from..].find(prefix) {
        let start = from + found + prefix.len();
        let Some(len) = out[start..].find('/') else {
            break;
        };
        let end = start + len;
        let route = &out[end + 1..];
        let before_route = ROUTES.iter().any(|r| {
            route.starts_with(r)
                && matches!(route.as_bytes().get(r.len()), None | Some(b'/' | b'?'))
        });
        if before_route && len > 0 && &out[start..end] != "***" {
            out.replace_range(start..end, "***");
            changed = true;
            from = start + 3;
        } else {
            from = start;
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_and_tokens_in_urls_are_masked() {
        let tree = json!({"module": "pivot", "data": {
            "voice_url": "https://kazoo:s3cret@pivot.example.com/pivot/next?x=1&auth_token=tok&y=2"
        }, "children": {"_": {"module": "pivot", "data": {
            "voice_url": "http://h/pivot/a?auth_token=abc"}}}});
        let clean = redact(&tree);
        assert_eq!(
            clean["data"]["voice_url"],
            "https://kazoo:***@pivot.example.com/pivot/next?x=1&auth_token=***&y=2"
        );
        assert_eq!(
            clean["children"]["_"]["data"]["voice_url"],
            "http://h/pivot/a?auth_token=***"
        );
        assert!(!clean.to_string().contains("s3cret"));
        assert!(!clean.to_string().contains("tok&"));
    }

    #[test]
    fn tokens_in_url_paths_are_masked() {
        let tree = json!({"module": "pivot", "data": {
            "voice_url": "https://pf.example.com/base/t/tok-123/pivot/next"
        }, "children": {"_": {"module": "record_caller", "data": {
            "url": "http://h/t/up-9/recordings"}}}});
        let clean = redact(&tree);
        assert_eq!(
            clean["data"]["voice_url"],
            "https://pf.example.com/base/t/***/pivot/next"
        );
        assert_eq!(
            clean["children"]["_"]["data"]["url"],
            "http://h/t/***/recordings"
        );
        assert_eq!(mask_url("/t/abc/events/x?y=1"), "/t/***/events/x?y=1");
        let text = json!({"module": "tts", "data": {"text": "press 1/t/2/pivot-ish"}});
        assert!(matches!(redact(&text), Cow::Borrowed(_)));
    }

    #[test]
    fn a_tree_without_secrets_is_borrowed_as_it_is() {
        let tree = json!({"module": "tts", "data": {"text": "mail me at a@b.c, see http://x/y@z"}});
        assert!(matches!(redact(&tree), Cow::Borrowed(_)));
        let not_a_param = json!({"module": "tts", "data": {"text": "my_auth_token=1"}});
        assert!(matches!(redact(&not_a_param), Cow::Borrowed(_)));
    }
}
