//! What a simulated call is made of: the flow, the caller's side (parameters, digits, the outcome
//! of each bridge), the instant, and for in-process runs the store's seeds and `fetch`'s canned
//! answers.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One canned `fetch` answer (the script host's type: `Fetcher::canned` takes them).
pub use crate::script::fetch::CannedFetch;

/// One call to play.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallSpec {
    /// The flow the first request names (`/pivot/FLOW`).
    pub flow: String,
    /// Request parameters under Kazoo's names (`Caller-ID-Number`, …), over the simulator's own
    /// defaults (a fresh `Call-ID`, `Request`, `To`, …).
    pub params: Vec<(String, String)>,
    /// What the caller presses at each `collect_dtmf`, in order; none left = nothing pressed
    /// (the collection is sent empty).
    pub digits: Vec<String>,
    /// The outcome of each bridge of the call, in order; none left = answered.
    pub bridges: Vec<BridgeOutcome>,
    /// The instant the call runs at (the engine's clock in-process; only the `Date`-free
    /// parameters over `--url`); now when absent.
    pub at: Option<DateTime<Utc>>,
    /// How the first request is sent (later ones follow the pivot nodes).
    pub method: Method,
    /// Which Kazoo's differences to play.
    pub kazoo: KazooVersion,
}

/// How one bridge of the call ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BridgeOutcome {
    /// The callee answers: the call ends with the bridge.
    Answer,
    /// The bridge fails with a hangup cause (`NO_ANSWER`) and optionally a SIP code (`486`).
    Failed {
        /// Kazoo's hangup cause, upper case.
        cause: String,
        /// The SIP code, when given (`USER_BUSY/sip:486`).
        code: Option<u16>,
    },
}

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Method {
    /// Parameters in the query (Kazoo's first request).
    #[default]
    Get,
    /// Parameters in a form body (or JSON, as the pivot node's `req_body_format` says).
    Post,
}

/// The Kazoo release whose behaviour is played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum KazooVersion {
    /// 4.3: modules only master has (`answer`, `noop`, `wait_for_hangup`) hang the call up.
    #[default]
    V43,
    /// master.
    Master,
}

/// What an in-process call starts from besides `lists/*.csv` (scenarios' `kv`, `userspace` and
/// `fetch`); empty for `pivotforge call`.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// cxKV entries: (namespace — the flow's own unless it names a shared one —, key, JSON value).
    pub kv: Vec<(String, String, serde_json::Value)>,
    /// cxUserspace entries: (area, key, JSON value).
    pub userspace: Vec<(String, String, serde_json::Value)>,
    /// Canned answers for `fetch`; a script's fetch of a URL with none fails (no scenario reaches
    /// the network). `None` = the real network (`pivotforge call`).
    pub fetch: Option<Vec<CannedFetch>>,
}

impl std::str::FromStr for BridgeOutcome {
    type Err = String;

    /// `answer`, a cause (`NO_ANSWER`), or a cause and SIP code (`USER_BUSY/sip:486`,
    /// `USER_BUSY/486`).
    fn from_str(s: &str) -> Result<BridgeOutcome, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("answer") || s.eq_ignore_ascii_case("answered") {
            return Ok(BridgeOutcome::Answer);
        }
        let (cause, code) = match s.split_once('/') {
            Some((cause, code)) => (cause, Some(code)),
            None => (s, None),
        };
        let cause_ok = !cause.is_empty()
            && cause
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !cause_ok {
            return Err(format!(
                "`{s}` is not a bridge outcome: give `answer`, a hangup cause such as NO_ANSWER, \
                 or a cause and SIP code such as USER_BUSY/sip:486"
            ));
        }
        let code = match code {
            None => None,
            Some(code) => {
                let digits = code.strip_prefix("sip:").unwrap_or(code);
                match digits.parse::<u16>() {
                    Ok(n) if (100..=699).contains(&n) => Some(n),
                    _ => {
                        return Err(format!(
                            "`{s}`: `{code}` is not a SIP code (write it as sip:486, 100-699)"
                        ))
                    }
                }
            }
        };
        Ok(BridgeOutcome::Failed {
            cause: cause.to_ascii_uppercase(),
            code,
        })
    }
}

impl std::fmt::Display for BridgeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeOutcome::Answer => f.write_str("answered"),
            BridgeOutcome::Failed { cause, code: None } => f.write_str(cause),
            BridgeOutcome::Failed {
                cause,
                code: Some(code),
            } => write!(f, "{cause}/sip:{code}"),
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    /// `get` or `post`, any case.
    fn from_str(s: &str) -> Result<Method, String> {
        match s.to_ascii_lowercase().as_str() {
            "get" => Ok(Method::Get),
            "post" => Ok(Method::Post),
            _ => Err(format!(
                "`{s}` is not a method Kazoo uses: give get or post"
            )),
        }
    }
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl std::str::FromStr for KazooVersion {
    type Err = String;

    /// `4.3` or `master`.
    fn from_str(s: &str) -> Result<KazooVersion, String> {
        match s.to_ascii_lowercase().as_str() {
            "4.3" | "4" | "v4.3" => Ok(KazooVersion::V43),
            "master" => Ok(KazooVersion::Master),
            _ => Err(format!(
                "`{s}` is not a Kazoo version played here: give 4.3 or master"
            )),
        }
    }
}

impl KazooVersion {
    /// How transcripts name it.
    pub fn name(self) -> &'static str {
        match self {
            KazooVersion::V43 => "Kazoo 4.3",
            KazooVersion::Master => "Kazoo master",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_outcomes_parse_with_and_without_a_code() {
        assert_eq!("answer".parse(), Ok(BridgeOutcome::Answer));
        assert_eq!(
            "no_answer".parse(),
            Ok(BridgeOutcome::Failed {
                cause: "NO_ANSWER".into(),
                code: None
            })
        );
        let busy = BridgeOutcome::Failed {
            cause: "USER_BUSY".into(),
            code: Some(486),
        };
        assert_eq!("USER_BUSY/sip:486".parse(), Ok(busy.clone()));
        assert_eq!("USER_BUSY/486".parse(), Ok(busy.clone()));
        assert_eq!(busy.to_string(), "USER_BUSY/sip:486");
        assert!("USER_BUSY/sip:99".parse::<BridgeOutcome>().is_err());
        assert!("no answer".parse::<BridgeOutcome>().is_err());
        assert_eq!("POST".parse(), Ok(Method::Post));
        assert_eq!("master".parse(), Ok(KazooVersion::Master));
        assert!("5.0".parse::<KazooVersion>().is_err());
    }
}
