//! `ctx.get(key)` and `ctx.header(name)`: ScriptForge's call-variable names read from the pivot
//! request. [`VARIABLES`] is the one table (the README's "Class 5: ctx variables" shows it).
//!
//! What the script `set` itself is the replay engine's to answer first; after it, a variable
//! stored on the PBX with `set_variables` (which comes back as `Custom-Application-Vars`), then
//! this table, then `sip_h_NAME` as a SIP header.

use std::borrow::Cow;

use crate::request::PivotRequest;

/// Prefix of a SIP header read as a variable: `sip_h_X-Account` is header `X-Account`.
pub const HEADER_PREFIX: &str = "sip_h_";

/// ScriptForge variable name → Kazoo request parameter (as [`PivotRequest::get`] names it).
pub const VARIABLES: &[(&str, &str)] = &[
    ("sip_from_user", "From"),
    ("sip_from_host", "From-Realm"),
    ("sip_to_user", "To"),
    ("sip_to_host", "To-Realm"),
    ("sip_req_user", "Request"),
    ("sip_req_host", "Request-Realm"),
    ("destination_number", "Request"),
    ("caller_id_number", "Caller-ID-Number"),
    ("caller_id_name", "Caller-ID-Name"),
    ("call_id", "Call-ID"),
    ("sip_call_id", "Call-ID"),
    ("uuid", "Call-ID"),
    ("account_id", "Account-ID"),
    ("user_id", "User-ID"),
    ("language", "Language"),
    ("direction", "Direction"),
];

/// The Kazoo parameter a ScriptForge name reads, `Custom-SIP-Headers.NAME` for `sip_h_NAME`.
pub fn parameter(key: &str) -> Option<Cow<'static, str>> {
    if let Some((_, param)) = VARIABLES.iter().find(|(name, _)| *name == key) {
        return Some(Cow::Borrowed(param));
    }
    key.strip_prefix(HEADER_PREFIX)
        .filter(|name| !name.is_empty())
        .map(|name| Cow::Owned(format!("Custom-SIP-Headers.{name}")))
}

/// The value of variable `key` in `request`: a PBX-stored variable first, then the table, then
/// a `sip_h_` header. `None` when absent or empty (the script sees `undefined`).
pub fn get(request: &PivotRequest, key: &str) -> Option<String> {
    if let Some(stored) = request.get(&format!("Custom-Application-Vars.{key}")) {
        return Some(stored.into_owned());
    }
    if let Some(name) = key.strip_prefix(HEADER_PREFIX) {
        return header(request, name);
    }
    let (_, param) = VARIABLES.iter().find(|(name, _)| *name == key)?;
    request.get(param).map(Cow::into_owned)
}

/// SIP header `name` of the call (`Custom-SIP-Headers`); exact name first, then any case.
pub fn header(request: &PivotRequest, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let headers = &request.custom_sip_headers;
    let value = headers.get(name).or_else(|| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })?;
    match value {
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::BodyFormat;

    fn request() -> PivotRequest {
        let query = "Call-ID=abc%4010.0.0.1&From=1000&From-Realm=acme.example.com&To=2030\
            &To-Realm=acme.example.com&Request=2030&Request-Realm=acme.example.com\
            &Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Account-ID=acc\
            &User-ID=u1&Language=en-us&Direction=inbound\
            &Custom-SIP-Headers[X-Account]=gold&Custom-SIP-Headers[x-empty]=\
            &Custom-Application-Vars[caller_id_name]=Set+By+Script";
        PivotRequest::parse(query, b"", BodyFormat::Form).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_name_in_the_table_reads_its_parameter() {
        let mut req = request();
        req.custom_application_vars.clear();
        for (name, param) in VARIABLES {
            let got = get(&req, name);
            assert!(got.is_some(), "{name} → {param}: nothing");
            assert_eq!(got, req.get(param).map(Cow::into_owned), "{name}");
        }
        assert_eq!(get(&req, "sip_from_user").as_deref(), Some("1000"));
        assert_eq!(get(&req, "sip_to_user").as_deref(), Some("2030"));
        assert_eq!(
            get(&req, "caller_id_number").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(get(&req, "caller_id_name").as_deref(), Some("Alice Smith"));
        assert_eq!(get(&req, "call_id").as_deref(), Some("abc@10.0.0.1"));
        assert_eq!(get(&req, "nothing_like_it"), None);
    }

    #[test]
    fn stored_variables_come_first() {
        assert_eq!(
            get(&request(), "caller_id_name").as_deref(),
            Some("Set By Script")
        );
    }

    #[test]
    fn headers_by_prefix_and_by_name() {
        let req = request();
        assert_eq!(get(&req, "sip_h_X-Account").as_deref(), Some("gold"));
        assert_eq!(header(&req, "X-Account").as_deref(), Some("gold"));
        assert_eq!(header(&req, "x-account").as_deref(), Some("gold"));
        assert_eq!(header(&req, "X-Empty"), None);
        assert_eq!(header(&req, "X-Missing"), None);
        assert_eq!(get(&req, "sip_h_"), None);
        assert_eq!(
            parameter("sip_h_X-Account").as_deref(),
            Some("Custom-SIP-Headers.X-Account")
        );
        assert_eq!(parameter("sip_to_user").as_deref(), Some("To"));
        assert_eq!(parameter("unknown"), None);
    }

    #[test]
    fn the_readme_lists_every_name() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Class 5: ctx variables")
            .nth(1)
            .and_then(|rest| rest.split("\n#").next())
            .unwrap_or_else(|| panic!("README has no \"Class 5: ctx variables\" section"));
        for (name, param) in VARIABLES {
            assert!(
                section.contains(&format!("`{name}`")),
                "README lacks {name}"
            );
            assert!(
                section.contains(&format!("`{param}")),
                "README lacks {param}"
            );
        }
    }
}
