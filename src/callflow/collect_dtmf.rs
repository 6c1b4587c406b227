//! `collect_dtmf`: collect digits; they come back in the next pivot request's `Digits`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `collect_dtmf` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CollectDtmf {
    /// Name the digits are reported under in the next pivot request (Kazoo uses "default"
    /// when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "default"))]
    pub collection_name: Option<String>,
    /// Stop after this many digits (at least 1, Kazoo default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), extend("default" = 1))]
    pub max_digits: Option<u64>,
    /// Milliseconds to wait for the first digit (at least 1, Kazoo default 5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), extend("default" = 5000))]
    pub timeout: Option<u64>,
    /// Milliseconds to wait between digits (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub interdigit_timeout: Option<u64>,
    /// Key that ends collection (Kazoo default `#`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "#"))]
    pub terminator: Option<DtmfKey>,
    /// Keys that end collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminators: Option<Vec<DtmfKey>>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CollectDtmf {
    /// Collects up to `max_digits` digits under `collection_name`.
    pub fn new(collection_name: impl Into<String>, max_digits: u64) -> Self {
        Self {
            collection_name: Some(collection_name.into()),
            max_digits: Some(max_digits),
            ..Self::default()
        }
    }
}

/// One telephone keypad key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DtmfKey {
    /// Key `0`.
    #[serde(rename = "0")]
    Zero,
    /// Key `1`.
    #[serde(rename = "1")]
    One,
    /// Key `2`.
    #[serde(rename = "2")]
    Two,
    /// Key `3`.
    #[serde(rename = "3")]
    Three,
    /// Key `4`.
    #[serde(rename = "4")]
    Four,
    /// Key `5`.
    #[serde(rename = "5")]
    Five,
    /// Key `6`.
    #[serde(rename = "6")]
    Six,
    /// Key `7`.
    #[serde(rename = "7")]
    Seven,
    /// Key `8`.
    #[serde(rename = "8")]
    Eight,
    /// Key `9`.
    #[serde(rename = "9")]
    Nine,
    /// Key `*`.
    #[serde(rename = "*")]
    Star,
    /// Key `#`.
    #[serde(rename = "#")]
    Hash,
}

impl DtmfKey {
    /// The key written as `text` (`"1"`, `"*"`, `"#"`); `None` for anything else.
    pub fn parse(text: &str) -> Option<DtmfKey> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }
}
