//! The Class 5 realms a JS thread keeps: for each classic Class 5 flow it served lately, one
//! context whose steps each run the script anew ([`Sandbox::class5_realm`]), so a step costs
//! the script's replay rather than a whole new context. A realm a step failed in or left
//! unclean is dropped; a flow that keeps leaving its realm unclean, or that runs only in a
//! context of its own, gets a fresh context for every step, as a module flow always does.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use super::host::HostServices;
use super::sandbox::Sandbox;
use super::{ScriptFailure, ScriptFlow};

/// Realms a thread keeps before dropping the least recently used.
const REALMS_PER_THREAD: usize = 32;
/// Unclean steps after which a flow runs every step in a fresh context on this thread.
const STRIKES: u32 = 3;
/// Scripts whose strikes or fresh-only mark a thread remembers (old versions pile up).
const REMEMBERED: usize = 1024;

/// Which script a realm runs: the flow, its version and the exact source (a call pinned to an
/// older script shares the flow's name and version).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RealmKey {
    name: String,
    version: u64,
    source: u64,
}

impl RealmKey {
    /// The key of `flow`'s script.
    pub fn of(flow: &ScriptFlow) -> RealmKey {
        let mut h = DefaultHasher::new();
        flow.source.hash(&mut h);
        RealmKey {
            name: flow.name.clone(),
            version: flow.version,
            source: h.finish(),
        }
    }
}

struct Realm {
    key: RealmKey,
    sandbox: Sandbox,
    used: u64,
}

/// One JS thread's Class 5 realms.
#[derive(Default)]
pub struct Realms {
    realms: HashMap<String, Realm>,
    strikes: HashMap<RealmKey, u32>,
    fresh_only: HashSet<RealmKey>,
    /// Realms built so far.
    pub built: u64,
}

impl Realms {
    /// True when `key`'s steps must each run in a fresh context.
    pub fn fresh_only(&self, key: &RealmKey) -> bool {
        self.fresh_only.contains(key)
    }

    /// From now on, `key`'s steps each run in a fresh context on this thread.
    pub fn make_fresh_only(&mut self, key: &RealmKey) {
        self.realms.remove(&key.name);
        remember(&mut self.fresh_only, key);
    }

    /// `flow`'s realm, built when the thread has none for its script (within `deadline`).
    pub fn get(
        &mut self,
        key: &RealmKey,
        flow: &ScriptFlow,
        services: &Arc<HostServices>,
        deadline: Instant,
        now: u64,
    ) -> Result<&mut Sandbox, ScriptFailure> {
        if self.realms.get(&key.name).is_some_and(|r| r.key != *key) {
            // A new version (or another call's pinned script): one realm per flow.
            self.realms.remove(&key.name);
        }
        if !self.realms.contains_key(&key.name) {
            if self.realms.len() >= REALMS_PER_THREAD {
                let oldest = self
                    .realms
                    .iter()
                    .min_by_key(|(_, r)| r.used)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.realms.remove(&oldest);
                }
            }
            let sandbox = Sandbox::class5_realm(flow, services, deadline)?;
            self.built += 1;
            let realm = Realm {
                key: key.clone(),
                sandbox,
                used: now,
            };
            self.realms.insert(key.name.clone(), realm);
        }
        let realm = self
            .realms
            .get_mut(&key.name)
            .unwrap_or_else(|| unreachable!("inserted above"));
        realm.used = now;
        Ok(&mut realm.sandbox)
    }

    /// Drops `key`'s realm after a step that failed in it (`unclean` false) or that completed
    /// but left it unclean, which counts toward the flow's strikes.
    pub fn discard(&mut self, key: &RealmKey, unclean: bool) {
        self.realms.remove(&key.name);
        if unclean {
            if self.strikes.len() >= REMEMBERED {
                self.strikes.clear();
            }
            let strikes = self.strikes.entry(key.clone()).or_default();
            *strikes += 1;
            if *strikes >= STRIKES {
                self.strikes.remove(key);
                remember(&mut self.fresh_only, key);
            }
        }
    }

    /// Forgets every realm of the flow `name` (a panic or an overrun may have left one
    /// half-way).
    pub fn forget(&mut self, name: &str) {
        self.realms.remove(name);
    }
}

fn remember(set: &mut HashSet<RealmKey>, key: &RealmKey) {
    if set.len() >= REMEMBERED {
        set.clear();
    }
    set.insert(key.clone());
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::script::class5::{CallInfo, Effects};
    use crate::script::sandbox::Vars;

    fn services() -> (tempfile::TempDir, Arc<HostServices>) {
        let (dir, store) = crate::store::temp_store();
        let services = HostServices {
            store,
            fetcher: crate::script::fetch::Fetcher::new().unwrap(),
            pivot: crate::auth::PivotLink::plain("http://pf"),
        };
        (dir, Arc::new(services))
    }

    /// Runs one step of `flow` (a fresh call each time) in its realm, as the pool does: the
    /// value `main` returned, and whether the realm was kept.
    fn step(realms: &mut Realms, flow: &ScriptFlow, services: &Arc<HostServices>) -> Value {
        let key = RealmKey::of(flow);
        let deadline = Instant::now() + Duration::from_secs(2);
        let sandbox = realms.get(&key, flow, services, deadline, 0).unwrap();
        sandbox.set_effects(Effects::new(Vec::new(), CallInfo::default()));
        let out = sandbox.call("main", "{}", Vars::IfAbsent, deadline, None);
        let clean = !out.discard && out.result.is_ok() && sandbox.clean();
        if !clean {
            realms.discard(&key, out.result.is_ok());
        }
        out.result.unwrap()
    }

    fn flow(source: &str) -> ScriptFlow {
        let flow = ScriptFlow::from_source("realm", Path::new("."), source);
        assert!(flow.class5, "a Class 5 script");
        flow
    }

    #[test]
    fn every_step_runs_the_top_level_anew_in_one_realm() {
        let (_dir, services) = services();
        let flow = flow(
            "let visits = 0;\nasync function main(data, ctx) {\n  visits += 1;\n  \
             await ctx.answer();\n  return `visits ${visits}`;\n}\n",
        );
        let mut realms = Realms::default();
        for _ in 0..3 {
            assert_eq!(step(&mut realms, &flow, &services), json!("visits 1"));
        }
        assert_eq!(realms.built, 1, "the three steps shared one realm");
    }

    #[test]
    fn a_step_that_adds_a_global_costs_the_realm_and_then_the_flow_its_realms() {
        let (_dir, services) = services();
        let flow = flow(
            "async function main(data, ctx) {\n  seen = (typeof seen === 'number' ? seen : 0) + 1;\n  \
             return `seen ${seen}`;\n}\n",
        );
        let mut realms = Realms::default();
        for _ in 0..STRIKES {
            assert_eq!(step(&mut realms, &flow, &services), json!("seen 1"));
        }
        assert_eq!(realms.built, u64::from(STRIKES), "a realm per step");
        assert!(realms.fresh_only(&RealmKey::of(&flow)));
    }

    #[test]
    fn built_ins_are_frozen_yet_own_members_can_shadow_them() {
        let (_dir, services) = services();
        let flow = flow(
            "class Busy extends Error { constructor(m) { super(m); this.name = 'Busy'; } }\n\
             function Point() {}\nPoint.prototype.toString = function () { return 'pt'; };\n\
             async function main(data, ctx) {\n  Array.prototype.mark = 1;\n  JSON.parse = null;\n  \
             let strict;\n  try { (() => { 'use strict'; Object.prototype.toString = null; })(); } \
             catch (e) { strict = e.name; }\n  \
             return `${new Busy('x')} ${new Point()} ${[].mark} ${typeof JSON.parse} ${strict}`;\n}\n",
        );
        let mut realms = Realms::default();
        for _ in 0..2 {
            assert_eq!(
                step(&mut realms, &flow, &services),
                json!("Busy: x pt undefined function TypeError")
            );
        }
        assert_eq!(realms.built, 1, "nothing the step tried changed the realm");
    }

    #[test]
    fn a_finalization_registry_costs_the_realm() {
        let (_dir, services) = services();
        let flow = flow(
            "async function main(data, ctx) {\n  if (typeof FinalizationRegistry === 'function') \
             new FinalizationRegistry(() => {});\n  return typeof FinalizationRegistry;\n}\n",
        );
        let mut realms = Realms::default();
        let kind = step(&mut realms, &flow, &services);
        step(&mut realms, &flow, &services);
        let expected = if kind == json!("function") { 2 } else { 1 };
        assert_eq!(realms.built, expected, "{kind}");
    }
}
