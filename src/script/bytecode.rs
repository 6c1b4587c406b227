//! The host's own scripts (the prelude every sandbox runs, the `ctx` of a Class 5 step) compiled
//! to QuickJS bytecode once per process, so that a fresh sandbox loads them instead of parsing
//! 26 KB of source: a module Class 5 flow builds a fresh sandbox for every step (as every
//! classic one did before its realms), and parsing the prelude was two fifths of its CPU.

use std::sync::OnceLock;

use rquickjs::{Context, Ctx, Function, Module, Runtime, WriteOptions};

/// One host script: its module name (what stack traces show) and its source, an expression
/// giving a function.
pub struct HostScript {
    name: &'static str,
    source: &'static str,
    compiled: OnceLock<Result<Vec<u8>, String>>,
}

impl HostScript {
    /// The script `source` (a parenthesised function expression) under `name`.
    pub const fn new(name: &'static str, source: &'static str) -> HostScript {
        HostScript {
            name,
            source,
            compiled: OnceLock::new(),
        }
    }

    /// The function the script gives, loaded into `ctx` from its bytecode.
    pub fn load<'js>(&'static self, ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
        let bytes = self.bytecode().map_err(|e| {
            rquickjs::Error::new_loading_message(self.name, format!("host script: {e}"))
        })?;
        // SAFETY: the bytes are what `Module::write` of this same QuickJS build gave for this
        // source, and they live in a static for the whole process, as the bytecode's ROM data
        // (read in place, not copied) must outlive every runtime that loads it.
        let module = unsafe { Module::load(ctx.clone(), bytes)? };
        let (module, promise) = module.eval()?;
        // A module without `await` has settled once evaluated; `finish` reports a throw.
        promise.finish::<()>()?;
        module.namespace()?.get("default")
    }

    fn bytecode(&'static self) -> Result<&'static [u8], String> {
        self.compiled
            .get_or_init(|| compile(self.name, self.source))
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// Compiles `source` as a module whose default export is the function it gives, in a scratch
/// runtime (bytecode does not depend on the runtime that wrote it).
fn compile(name: &str, source: &str) -> Result<Vec<u8>, String> {
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    context.with(|ctx| {
        let module = Module::declare(ctx.clone(), name, format!("export default {source};"))
            .map_err(|e| match e {
                rquickjs::Error::Exception => format!("{:?}", ctx.catch()),
                e => e.to_string(),
            })?;
        module
            .write(WriteOptions::default())
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static DOUBLE: HostScript = HostScript::new("test:double", "(function (x) { return 2 * x; })");
    static BROKEN: HostScript = HostScript::new("test:broken", "(function (x) { return ; ) })");

    #[test]
    fn a_host_script_loads_as_the_function_its_source_gives() {
        for _ in 0..2 {
            let runtime = Runtime::new().unwrap();
            let context = Context::full(&runtime).unwrap();
            let got: i32 = context.with(|ctx| DOUBLE.load(&ctx)?.call((21,))).unwrap();
            assert_eq!(got, 42);
        }
    }

    #[test]
    fn a_host_script_that_does_not_compile_fails_to_load_naming_it() {
        let runtime = Runtime::new().unwrap();
        let context = Context::full(&runtime).unwrap();
        let err = context.with(|ctx| BROKEN.load(&ctx).map(drop)).unwrap_err();
        assert!(err.to_string().contains("test:broken"), "{err}");
    }
}
