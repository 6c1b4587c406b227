//! Kazoo's request parameters (`req_format=kazoo`): the one list of wire names and the field of
//! [`PivotRequest`] each fills. Parsing, [`PivotRequest::get`] and serialisation all read it, so
//! a parameter is added here and nowhere else.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::PivotRequest;

/// Where one parameter lives in a [`PivotRequest`], and so how it is read and written.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// A plain string (numbers and booleans in a JSON body are kept as their text).
    Text(
        fn(&PivotRequest) -> &Option<String>,
        fn(&mut PivotRequest) -> &mut Option<String>,
    ),
    /// `User-ID`: one id or a list; [`PivotRequest::get`] gives the first.
    UserIds,
    /// `Digits`: collections by name; [`PivotRequest::get`] of the bare name gives `default`.
    Digits,
    /// An object (`Custom-Application-Vars`, `Custom-SIP-Headers`), reached with dots.
    Object(
        fn(&PivotRequest) -> &Map<String, Value>,
        fn(&mut PivotRequest) -> &mut Map<String, Value>,
    ),
}

/// One Kazoo parameter: its wire name and its field.
pub(super) struct Param {
    /// Kazoo's name, as sent and as flows write it.
    pub name: &'static str,
    /// The field it fills.
    pub slot: Slot,
}

const fn text(
    name: &'static str,
    get: fn(&PivotRequest) -> &Option<String>,
    get_mut: fn(&mut PivotRequest) -> &mut Option<String>,
) -> Param {
    Param {
        name,
        slot: Slot::Text(get, get_mut),
    }
}

/// Every parameter this service types, in the order they are written back out.
pub(super) const PARAMS: &[Param] = &[
    text("Call-ID", |r| &r.call_id, |r| &mut r.call_id),
    text("Account-ID", |r| &r.account_id, |r| &mut r.account_id),
    text("From", |r| &r.from, |r| &mut r.from),
    text("From-Realm", |r| &r.from_realm, |r| &mut r.from_realm),
    text("To", |r| &r.to, |r| &mut r.to),
    text("To-Realm", |r| &r.to_realm, |r| &mut r.to_realm),
    text("Request", |r| &r.request, |r| &mut r.request),
    text(
        "Request-Realm",
        |r| &r.request_realm,
        |r| &mut r.request_realm,
    ),
    text(
        "Caller-ID-Name",
        |r| &r.caller_id_name,
        |r| &mut r.caller_id_name,
    ),
    text(
        "Caller-ID-Number",
        |r| &r.caller_id_number,
        |r| &mut r.caller_id_number,
    ),
    text("Direction", |r| &r.direction, |r| &mut r.direction),
    text("Api-Version", |r| &r.api_version, |r| &mut r.api_version),
    text("Language", |r| &r.language, |r| &mut r.language),
    Param {
        name: "User-ID",
        slot: Slot::UserIds,
    },
    Param {
        name: "Digits",
        slot: Slot::Digits,
    },
    Param {
        name: "Custom-Application-Vars",
        slot: Slot::Object(
            |r| &r.custom_application_vars,
            |r| &mut r.custom_application_vars,
        ),
    },
    Param {
        name: "Custom-SIP-Headers",
        slot: Slot::Object(|r| &r.custom_sip_headers, |r| &mut r.custom_sip_headers),
    },
];

/// The parameter named `name` exactly, if this service types it.
pub(super) fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// The string field of a plain-string parameter `name`, with its static name.
pub(super) fn text_slot<'r>(
    req: &'r mut PivotRequest,
    name: &str,
) -> Option<(&'static str, &'r mut Option<String>)> {
    match param(name)? {
        Param {
            name,
            slot: Slot::Text(_, get_mut),
        } => Some((name, get_mut(req))),
        _ => None,
    }
}

impl Param {
    /// Stores a parsed value (from a form or a JSON body) in this parameter's field, checking
    /// its shape.
    pub(super) fn store(
        &self,
        req: &mut PivotRequest,
        value: Value,
    ) -> Result<(), super::RequestError> {
        match self.slot {
            Slot::Text(_, get_mut) => *get_mut(req) = super::scalar(self.name, value)?,
            Slot::UserIds => req.user_ids = super::user_ids(value)?,
            Slot::Digits => req.digits = super::digits(value)?,
            Slot::Object(_, get_mut) => *get_mut(req) = super::object(self.name, value)?,
        }
        Ok(())
    }

    /// The value `get` gives for the bare name; `None` for an object (reached with dots only).
    pub(super) fn get<'r>(&self, req: &'r PivotRequest) -> Option<Cow<'r, str>> {
        let found = match self.slot {
            Slot::Text(get, _) => get(req).as_deref(),
            Slot::UserIds => req.user_ids.0.first().map(String::as_str),
            Slot::Digits => req.digits.get("default").map(String::as_str),
            Slot::Object(..) => None,
        };
        found.map(Cow::Borrowed)
    }

    /// Writes this parameter as a map entry, or nothing when it was not sent (or empty).
    fn write<M: SerializeMap>(&self, req: &PivotRequest, map: &mut M) -> Result<(), M::Error> {
        match self.slot {
            Slot::Text(get, _) => match get(req) {
                Some(value) => map.serialize_entry(self.name, value),
                None => Ok(()),
            },
            Slot::UserIds if req.user_ids.is_empty() => Ok(()),
            Slot::UserIds => map.serialize_entry(self.name, &req.user_ids),
            Slot::Digits if req.digits.is_empty() => Ok(()),
            Slot::Digits => map.serialize_entry(self.name, &req.digits),
            Slot::Object(get, _) if get(req).is_empty() => Ok(()),
            Slot::Object(get, _) => map.serialize_entry(self.name, get(req)),
        }
    }
}

impl Serialize for PivotRequest {
    /// Kazoo's names in [`PARAMS`] order, absent values left out, then every other parameter.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for param in PARAMS {
            param.write(self, &mut map)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}
