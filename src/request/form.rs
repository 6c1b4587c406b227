//! Kazoo's form encoding: `key=value` pairs with bracket keys (`a[b][c]`, `list[]`), empty `&&`
//! segments, `+` for space and strict `%XX` escapes.
//!
//! Kazoo builds these strings itself (reference §1): keys are not escaped, nested objects become
//! bracket keys, and an empty object leaves an empty segment. The parser is lenient about that
//! shape and strict about bytes: a bad escape or invalid UTF-8 is an error, never a guess.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// How many bracket levels a key may have before the rest is kept as literal text.
const MAX_DEPTH: usize = 8;

/// Why a form string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding at byte {offset}: `%` must be followed by two hex digits")]
    BadEscape {
        /// Byte offset of the `%` in the whole input.
        offset: usize,
    },
    /// The decoded bytes of a key or value are not UTF-8.
    #[error("parameter `{key}` is not valid UTF-8 once percent-decoded")]
    BadUtf8 {
        /// The (lossily decoded) key the bad bytes belong to.
        key: String,
    },
}

/// Parses a whole form string (a query string or a form body) into a JSON object.
///
/// `a=1` gives a string, `a[b]=1` an object, `a[]=1&a[]=2` a list. A later plain key replaces an
/// earlier one of the same name.
pub fn parse(input: &[u8]) -> Result<Map<String, Value>, FormError> {
    let mut out = Map::new();
    pairs(input, |key, value| insert_pair(&mut out, &key, value))?;
    Ok(out)
}

/// Places one decoded `key=value` pair into `out`, following its brackets.
pub fn insert_pair(out: &mut Map<String, Value>, key: &str, value: String) {
    let (base, path) = split_key(key);
    insert(out, base, &path, value);
}

/// Calls `f` with each decoded `(key, value)` pair, in order, skipping empty segments and keys.
/// A key with nothing to decode is lent, not copied: Kazoo's keys never need decoding.
pub fn pairs(input: &[u8], mut f: impl FnMut(Cow<'_, str>, String)) -> Result<(), FormError> {
    let mut offset = 0;
    for segment in input.split(|&b| b == b'&') {
        let start = offset;
        offset += segment.len() + 1;
        if segment.is_empty() {
            continue;
        }
        let (raw_key, raw_value) = match segment.iter().position(|&b| b == b'=') {
            Some(eq) => (&segment[..eq], &segment[eq + 1..]),
            None => (segment, &b""[..]),
        };
        let bad_key = || FormError::BadUtf8 {
            key: String::from_utf8_lossy(raw_key).into_owned(),
        };
        let key = match decode(raw_key, start)? {
            Cow::Borrowed(bytes) => {
                Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| bad_key())?)
            }
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).map_err(|_| bad_key())?),
        };
        if key.is_empty() {
            continue;
        }
        let value = decode(raw_value, start + raw_key.len() + 1)?.into_owned();
        let value = String::from_utf8(value).map_err(|_| FormError::BadUtf8 {
            key: key.clone().into_owned(),
        })?;
        f(key, value);
    }
    Ok(())
}

/// Decodes `+` and `%XX`; `offset` places errors in the whole input. Input with neither is
/// given back as it is.
fn decode(raw: &[u8], offset: usize) -> Result<Cow<'_, [u8]>, FormError> {
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|&b| hex(b));
                let lo = raw.get(i + 2).and_then(|&b| hex(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadEscape { offset: offset + i }),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(Cow::Owned(out))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits `Digits[custom_name]` into `("Digits", ["custom_name"])`. A key whose brackets do not
/// close properly is kept whole, as a plain name.
fn split_key(key: &str) -> (&str, Vec<&str>) {
    let Some(open) = key.find('[') else {
        return (key, Vec::new());
    };
    if open == 0 {
        return (key, Vec::new());
    }
    let (base, mut rest) = key.split_at(open);
    let mut path = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return (key, Vec::new());
        };
        if path.len() == MAX_DEPTH {
            return (key, Vec::new());
        }
        path.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    if rest.is_empty() {
        (base, path)
    } else {
        (key, Vec::new())
    }
}

/// Places `value` at `path` below `base`, creating objects (named segments) or lists (`[]`).
fn insert(map: &mut Map<String, Value>, base: &str, path: &[&str], value: String) {
    match path.split_first() {
        None => {
            map.insert(base.to_owned(), Value::String(value));
        }
        Some((first, rest)) => {
            let slot = map.entry(base.to_owned()).or_insert(Value::Null);
            insert_into(slot, first, rest, value);
        }
    }
}

fn insert_into(slot: &mut Value, segment: &str, rest: &[&str], value: String) {
    if segment.is_empty() {
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(list) = slot {
            let mut item = Value::Null;
            match rest.split_first() {
                None => item = Value::String(value),
                Some((next, more)) => insert_into(&mut item, next, more, value),
            }
            list.push(item);
        }
        return;
    }
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(map) = slot {
        insert(map, segment, rest, value);
    }
}

/// Encodes parameters as Kazoo does (reference §1): values escaped (`[A-Za-z0-9._~-]` kept, space
/// → `+`, other bytes `%XX`), keys not escaped, `a[b]=v` for objects, `a[]=v` for lists, an empty
/// object as an empty segment. `parse` reads it back.
pub fn encode(params: &Map<String, Value>) -> String {
    let mut segments = Vec::new();
    for (key, value) in params {
        encode_into(key, value, &mut segments);
    }
    segments.join("&")
}

/// The `(key, value)` pairs [`encode`] writes, unescaped (`Digits[menu]`, `1`): what a
/// transcript lists.
pub fn flatten(params: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in params {
        flatten_into(key, value, &mut out);
    }
    out
}

fn flatten_into(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_into(&format!("{key}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten_into(&format!("{key}[]"), item, out);
            }
        }
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Null => {}
        other => out.push((key.to_owned(), other.to_string())),
    }
}

fn encode_into(key: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if map.is_empty() => out.push(String::new()),
        Value::Object(map) => {
            for (k, v) in map {
                encode_into(&format!("{key}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                encode_into(&format!("{key}[]"), item, out);
            }
        }
        Value::String(s) => out.push(format!("{key}={}", escape(s))),
        Value::Null => {}
        other => out.push(format!("{key}={}", escape(&other.to_string()))),
    }
}

/// Escapes one value the way Kazoo's form encoder does.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'-' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(s: &str) -> Value {
        Value::Object(parse(s.as_bytes()).expect("parses"))
    }

    #[test]
    fn kazoo_example_query() {
        let q = "User-ID=8f0c&To-Realm=acme.sip.example.com&To=2030&Request=2030&Language=en-us\
                 &From=1000&Direction=inbound&Digits[custom_name]=1234&&&Caller-ID-Number=%2B14155550100\
                 &Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x&Account-ID=3a1d";
        let v = parsed(q);
        assert_eq!(v["Digits"], json!({"custom_name": "1234"}));
        assert_eq!(v["Caller-ID-Number"], "+14155550100");
        assert_eq!(v["Caller-ID-Name"], "Alice Smith");
        assert_eq!(v["Call-ID"], "abc123@10.0.0.1");
    }

    #[test]
    fn lists_and_nesting() {
        let v = parsed("User-ID[]=a&User-ID[]=b&a[b][c]=1&a[b][d]=2&x[][y]=z");
        assert_eq!(v["User-ID"], json!(["a", "b"]));
        assert_eq!(v["a"], json!({"b": {"c": "1", "d": "2"}}));
        assert_eq!(v["x"], json!([{"y": "z"}]));
    }

    #[test]
    fn odd_keys_are_kept_whole() {
        let v = parsed("a[b=1&[c]=2&d]=3&e[f]g=4&flag");
        assert_eq!(v["a[b"], "1");
        assert_eq!(v["[c]"], "2");
        assert_eq!(v["d]"], "3");
        assert_eq!(v["e[f]g"], "4");
        assert_eq!(v["flag"], "");
    }

    #[test]
    fn encode_writes_kazoos_form_and_parse_reads_it_back() {
        let params = json!({"Call-ID": "abc 1@x", "Digits": {"menu": "1", "pin": ""},
            "User-ID": ["a", "b"], "Custom-SIP-Headers": {}, "n": 3});
        let map = params.as_object().cloned().unwrap_or_default();
        let text = encode(&map);
        assert_eq!(
            text,
            "Call-ID=abc+1%40x&Digits[menu]=1&Digits[pin]=&User-ID[]=a&User-ID[]=b&&n=3"
        );
        let back = parsed(&text);
        assert_eq!(back["Digits"], params["Digits"]);
        assert_eq!(back["User-ID"], params["User-ID"]);
        assert_eq!(back["Call-ID"], "abc 1@x");
        assert_eq!(
            flatten(&map)[..2],
            [
                ("Call-ID".to_owned(), "abc 1@x".to_owned()),
                ("Digits[menu]".to_owned(), "1".to_owned())
            ]
        );
    }

    #[test]
    fn strict_on_bad_bytes() {
        assert_eq!(parse(b"a=1&b=%4"), Err(FormError::BadEscape { offset: 6 }));
        assert_eq!(parse(b"a=%zz"), Err(FormError::BadEscape { offset: 2 }));
        assert!(matches!(parse(b"a=%ff%fe"), Err(FormError::BadUtf8 { .. })));
        assert_eq!(parsed("a=%E2%82%AC")["a"], "€");
    }
}
