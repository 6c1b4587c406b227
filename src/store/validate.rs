//! The rules every key, area and value meets before any backend sees it. Keys and areas come
//! from scripts and HTTP: the domain traits check them here once, with the same rules and
//! the same messages whatever the backend, and backends use them only as database keys,
//! never as paths.

use serde_json::Value;

use super::StoreError;

/// Longest key (cxKV key, userspace key, flow name), in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest userspace area name, in bytes.
pub const MAX_AREA_BYTES: usize = 64;
/// Largest value, in bytes of its JSON serialisation (1 MiB).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Checks a cxKV key, userspace key or flow name: 1 to [`MAX_KEY_BYTES`] bytes.
pub(crate) fn check_key(what: &str, key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {MAX_KEY_BYTES} bytes long (got {} bytes)",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a cxKV namespace and key: each 1 to [`MAX_KEY_BYTES`] bytes.
pub(crate) fn check_kv(ns: &str, key: &str) -> Result<(), StoreError> {
    check_key("kv namespace", ns)?;
    check_key("kv key", key)
}

/// Checks a userspace area name: `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn check_area(area: &str) -> Result<(), StoreError> {
    let valid = !area.is_empty()
        && area.len() <= MAX_AREA_BYTES
        && area
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    // Echo only a prefix: the name may be arbitrarily long input from a script.
    let shown: String = area.chars().take(MAX_AREA_BYTES).collect();
    Err(StoreError::Invalid(format!(
        "area name {shown:?} must be 1 to {MAX_AREA_BYTES} characters of A-Z, a-z, 0-9, '_' or '-'"
    )))
}

/// Serialises a value for storage, refusing values over [`MAX_VALUE_BYTES`].
pub(crate) fn encode_value(value: &Value) -> Result<String, StoreError> {
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("value cannot be serialised as JSON: {e}")))?;
    check_value_size(&text)?;
    Ok(text)
}

/// Refuses a value's JSON `text` over [`MAX_VALUE_BYTES`].
pub(crate) fn check_value_size(text: &str) -> Result<(), StoreError> {
    if text.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "value is {} bytes as JSON; values must be at most {MAX_VALUE_BYTES} bytes (1 MiB)",
            text.len()
        )));
    }
    Ok(())
}

/// Parses a stored value; text that is not JSON means the stored record was damaged.
pub(crate) fn decode_value(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rule_names_the_limit() {
        assert!(check_key("kv key", "a").is_ok());
        assert!(check_key("kv key", &"k".repeat(MAX_KEY_BYTES)).is_ok());
        for bad in [String::new(), "k".repeat(MAX_KEY_BYTES + 1)] {
            let msg = check_key("kv key", &bad).unwrap_err().to_string();
            assert!(msg.contains("kv key must be 1 to 1024 bytes"), "{msg}");
        }
    }

    #[test]
    fn area_rule_names_the_pattern() {
        for good in ["dnc", "DNC_list-2", &"a".repeat(64)] {
            assert!(check_area(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "../etc", "dnc.csv", "é", &"a".repeat(65)] {
            let err = check_area(bad).unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)));
            assert!(err.to_string().contains("A-Z, a-z, 0-9"), "{err}");
        }
    }

    #[test]
    fn value_limit_is_one_mebibyte_of_json() {
        // A string of n bytes serialises to n + 2 (the quotes).
        let fits = Value::String("x".repeat(MAX_VALUE_BYTES - 2));
        assert!(encode_value(&fits).is_ok());
        let over = Value::String("x".repeat(MAX_VALUE_BYTES - 1));
        let msg = encode_value(&over).unwrap_err().to_string();
        assert!(msg.contains("at most 1048576 bytes"), "{msg}");
    }

    #[test]
    fn decode_reports_corruption() {
        assert_eq!(decode_value("[1]").unwrap(), serde_json::json!([1]));
        assert!(matches!(decode_value("{"), Err(StoreError::Corrupt(_))));
    }
}
