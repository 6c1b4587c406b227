//! `ring_group`: ring several endpoints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `data` of a `ring_group` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RingGroup {
    /// Endpoints to ring; Kazoo needs at least one.
    #[schemars(length(min = 1))]
    pub endpoints: Vec<Endpoint>,
    /// Ring all at once, in turn, or by weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RingStrategy>,
    /// Seconds to ring the whole group (Kazoo default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 20))]
    pub timeout: Option<u64>,
    /// How many times to go through the group (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub repeats: Option<u64>,
    /// Media played to the caller while ringing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ringback: Option<String>,
    /// Do not follow the endpoints' call forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_forward: Option<bool>,
    /// Skip this module and continue with its `_` child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_module: Option<bool>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RingGroup {
    /// Rings these endpoints with Kazoo's defaults.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Self {
            endpoints,
            ..Self::default()
        }
    }
}

/// One member of a ring group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    /// What `id` refers to.
    pub endpoint_type: EndpointType,
    /// Id of the device, user or group (1–128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// Seconds to wait before ringing it (Kazoo default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub delay: Option<u64>,
    /// Seconds to ring it (Kazoo default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 20))]
    pub timeout: Option<u64>,
    /// Relative weight (1–100) for the weighted_random strategy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<u8>,
    /// Keys this model does not know, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Endpoint {
    /// An endpoint of this type and id with Kazoo's defaults.
    pub fn new(endpoint_type: EndpointType, id: impl Into<String>) -> Self {
        Self {
            endpoint_type,
            id: id.into(),
            delay: None,
            timeout: None,
            weight: None,
            extra: Map::new(),
        }
    }
}

/// Kind of document a ring group endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    /// A device document.
    Device,
    /// A user document (all their devices).
    User,
    /// A group document.
    Group,
}

/// Order in which a ring group rings its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingStrategy {
    /// All at once.
    Simultaneous,
    /// One after another.
    Single,
    /// One at a time, picked by weight.
    WeightedRandom,
}
