//! Stand-in for `crate::sim::play_offline` until the simulator branch is merged (removed then).

use crate::config::Config;
use crate::sim::{CallSpec, Setup, Transcript};

/// Always fails: the simulator is not here yet.
pub fn play_offline(
    _config: &Config,
    _spec: &CallSpec,
    _setup: &Setup,
) -> Result<Transcript, String> {
    Err("the call simulator is not built into this binary yet".into())
}
