//! `Action`: a node's module and `data`, typed; one variant per Kazoo module.

use serde::ser::{Serialize, Serializer};
use serde_json::Value;

use super::{
    unknown_module_message, Callflow, CollectDtmf, Conference, Device, Hangup, Language,
    ManualPresence, Menu, Pivot, Play, PrependCid, RecordCall, RecordCaller, Resources, Response,
    RingGroup, SendDtmf, SetCid, SetVariables, Sleep, TemporalRoute, Tts, User, Voicemail,
};

/// Why a module name and `data` object do not make an [`Action`].
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The module name is not one Kazoo 4.3 knows; the message carries a hint.
    #[error("{0}")]
    UnknownModule(String),
    /// The `data` object does not fit the module's typed model.
    #[error("invalid `data` for module `{module}`: {source}")]
    Data {
        /// Module whose data was rejected.
        module: &'static str,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

// One list drives the enum, the name table, the conversions and both serde directions,
// so a module cannot be added to one and forgotten in another.
macro_rules! actions {
    ($($variant:ident($ty:ident) = $name:literal,)*) => {
        /// A node's module together with its typed `data`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Action {
            $(
                #[doc = concat!("A `", $name, "` node.")]
                $variant($ty),
            )*
        }

        /// Every module name Kazoo 4.3 accepts, as written on the wire.
        pub const MODULES: [&str; 24] = [$($name),*];

        impl Action {
            /// The module name as written on the wire.
            pub fn module(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => $name,)*
                }
            }

            /// Builds an action from a wire module name and its `data` object.
            pub fn from_parts(module: &str, data: Value) -> Result<Action, ActionError> {
                match module {
                    $($name => serde_json::from_value::<$ty>(data)
                        .map(Action::$variant)
                        .map_err(|source| ActionError::Data { module: $name, source }),)*
                    other => Err(ActionError::UnknownModule(unknown_module_message(other))),
                }
            }
        }

        /// Serialises only the `data` object of an action.
        pub(super) struct DataOf<'a>(pub(super) &'a Action);

        impl Serialize for DataOf<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    $(Action::$variant(data) => data.serialize(serializer),)*
                }
            }
        }

        $(
            impl From<$ty> for Action {
                fn from(data: $ty) -> Self {
                    Action::$variant(data)
                }
            }
        )*
    };
}

actions! {
    Device(Device) = "device",
    User(User) = "user",
    Voicemail(Voicemail) = "voicemail",
    RingGroup(RingGroup) = "ring_group",
    Resources(Resources) = "resources",
    Tts(Tts) = "tts",
    Play(Play) = "play",
    CollectDtmf(CollectDtmf) = "collect_dtmf",
    SendDtmf(SendDtmf) = "send_dtmf",
    Pivot(Pivot) = "pivot",
    Conference(Conference) = "conference",
    Response(Response) = "response",
    ManualPresence(ManualPresence) = "manual_presence",
    RecordCall(RecordCall) = "record_call",
    RecordCaller(RecordCaller) = "record_caller",
    Hangup(Hangup) = "hangup",
    SetCid(SetCid) = "set_cid",
    PrependCid(PrependCid) = "prepend_cid",
    SetVariables(SetVariables) = "set_variables",
    Sleep(Sleep) = "sleep",
    Language(Language) = "language",
    TemporalRoute(TemporalRoute) = "temporal_route",
    Menu(Menu) = "menu",
    Callflow(Callflow) = "callflow",
}
