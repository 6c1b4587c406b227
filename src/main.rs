//! The `pivotforge` command: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use pivotforge::calls::cli::CallsArgs;
use pivotforge::cli::{self, RunArgs};
use pivotforge::clock::SystemClock;
use pivotforge::config::{Config, LogFormat, Overrides};

// glibc's malloc serialises on its arenas when one thread frees what another allocated, which is
// what every script call step does (HTTP worker ↔ JS thread); mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pivotforge",
    version,
    about = "Kazoo pivot service: rule and script flows answered with validated callflow trees"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Config file (TOML); flags and environment beat it.
    #[arg(long, env = "PIVOTFORGE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Folder of flow files [default: ./callflows].
    #[arg(long, env = "PIVOTFORGE_FLOWS", global = true)]
    flows: Option<PathBuf>,
    /// Base URL at which the PBX reaches this service [default: http://LISTEN].
    #[arg(long, env = "PIVOTFORGE_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Folder for stored data: the store, recordings [default: ./data].
    #[arg(long, env = "PIVOTFORGE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "PIVOTFORGE_LISTEN")]
        listen: Option<String>,
        /// Log line format.
        #[arg(long, env = "PIVOTFORGE_LOG_FORMAT", value_enum)]
        log_format: Option<LogFormat>,
        /// Start on a non-loopback address even without admin credentials ([auth]).
        #[arg(
            long,
            env = "PIVOTFORGE_ALLOW_OPEN",
            value_parser = clap::builder::BoolishValueParser::new()
        )]
        allow_open: bool,
    },
    /// Run one flow once, offline, and print its reply tree.
    Run {
        #[command(flatten)]
        common: Common,
        /// The flow, as in /pivot/FLOW.
        flow: String,
        /// A request parameter, Kazoo name (repeatable): --param Caller-ID-Number=+14155550100
        #[arg(long = "param", short = 'p', value_parser = cli::key_value)]
        params: Vec<(String, String)>,
        /// A digits collection (repeatable): --digits custom_name=1234
        #[arg(long, short = 'd', value_parser = cli::key_value)]
        digits: Vec<(String, String)>,
        /// A whole Kazoo query string, e.g. copied from a log.
        #[arg(long)]
        query: Option<String>,
        /// Evaluate at this instant (RFC 3339), e.g. 2026-12-24T15:00:00-05:00.
        #[arg(long)]
        at: Option<DateTime<chrono::FixedOffset>>,
        /// A Class 5 flow: the call's journal to start from (a new call when the file does not
        /// exist); the journal after the step is written back, so the next run continues.
        #[arg(long)]
        journal: Option<std::path::PathBuf>,
    },
    /// Play one whole call the way Kazoo does (in-process, or against --url) and print what
    /// happened, step by step and node by node.
    Call {
        #[command(flatten)]
        common: Common,
        /// The flow, as in /pivot/FLOW.
        flow: String,
        /// What the caller presses at the next collect_dtmf (repeatable, in order; none left or
        /// --digits= is nothing pressed): --digits 1 --digits 1234
        #[arg(long, short = 'd')]
        digits: Vec<String>,
        /// A request parameter, Kazoo name (repeatable): --param Caller-ID-Number=+14155550100
        #[arg(long = "param", short = 'p', value_parser = cli::key_value)]
        params: Vec<(String, String)>,
        /// Play at this instant (RFC 3339), e.g. 2026-12-24T15:00:00-05:00 [default: now].
        #[arg(long)]
        at: Option<DateTime<chrono::FixedOffset>>,
        /// How the next bridge ends (repeatable, in order; none left = answered): answer,
        /// NO_ANSWER, USER_BUSY/sip:486.
        #[arg(long)]
        bridge: Vec<pivotforge::sim::BridgeOutcome>,
        /// How the first request is sent: get or post (a form body).
        #[arg(long, default_value = "get")]
        method: pivotforge::sim::Method,
        /// The Kazoo release whose behaviour is played: 4.3 or master.
        #[arg(long, default_value = "4.3")]
        kazoo: pivotforge::sim::KazooVersion,
        /// Play against a running service (its base URL, with /t/TOKEN when /pivot has one)
        /// instead of in-process.
        #[arg(long)]
        url: Option<String>,
        /// Print one JSON object per step, then one for the end.
        #[arg(long)]
        json: bool,
    },
    /// Show the exchange log of a running service: one line per call, or every step of one.
    Calls {
        #[command(flatten)]
        common: Common,
        /// One call to show step by step (its Call-ID as the PBX sent it).
        call_id: Option<String>,
        /// The running service [default: --public-url, or http://LISTEN].
        #[arg(long, env = "PIVOTFORGE_URL")]
        url: Option<String>,
        /// Only calls with a step of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Only calls with a step of this outcome: tree, rejection, fallback, error, refused.
        #[arg(long)]
        outcome: Option<String>,
        /// Only calls active since: an RFC 3339 time, a date, or a duration (15m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many calls (1-1000) [default: 50].
        #[arg(long)]
        limit: Option<usize>,
        /// Keep asking every second and print new calls and steps, until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Print the URLs to give the PBX, with their tokens (secrets: keep them off shared logs).
    Token {
        #[command(flatten)]
        common: Common,
    },
    /// Play the scenarios of flow tests (callflows/tests/*.toml) and check their transcripts;
    /// exit 1 when one fails, 2 when a file is malformed.
    Test {
        #[command(flatten)]
        common: Common,
        /// Scenario files or folders [default: the tests folder, FLOWS/tests].
        paths: Vec<PathBuf>,
        /// Also write the results as JUnit XML to this file, for CI systems.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Scenarios played at once [default: one per core].
        #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
        jobs: usize,
    },
    /// Load and validate every flow; exit 1 with file:line errors if any is broken.
    Check {
        #[command(flatten)]
        common: Common,
        /// The flows folder [default: --flows, or ./callflows].
        dir: Option<PathBuf>,
    },
}

fn resolve(common: Common, over: Overrides) -> Result<Config, String> {
    let over = Overrides {
        flows: common.flows,
        public_url: common.public_url,
        data_dir: common.data_dir,
        ..over
    };
    Config::resolve(common.config.as_deref(), over).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve {
            common,
            listen,
            log_format,
            allow_open,
        } => {
            let over = Overrides {
                listen,
                log_format,
                allow_open: allow_open.then_some(true),
                ..Overrides::default()
            };
            match resolve(common, over) {
                Err(e) => {
                    eprintln!("pivotforge: {e}");
                    2
                }
                Ok(config) => {
                    let logs = pivotforge::logging::init(config.log_format);
                    let code = match pivotforge::server::run(config, Arc::new(SystemClock)) {
                        Ok(()) => 0,
                        Err(e) => {
                            tracing::error!("{e}");
                            eprintln!("pivotforge: {e}");
                            1
                        }
                    };
                    logs.flush();
                    code
                }
            }
        }
        Command::Run {
            common,
            flow,
            params,
            digits,
            query,
            at,
            journal,
        } => match resolve(common, Overrides::default()) {
            Err(e) => {
                eprintln!("pivotforge: {e}");
                2
            }
            Ok(config) => match cli::open_engine(&config, &mut std::io::stderr()) {
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
                Ok(opened) => {
                    let cli::RunEngine {
                        engine,
                        store,
                        scratch,
                    } = opened;
                    for problem in engine.registry().errors() {
                        eprintln!("warning: {problem}");
                    }
                    let args = RunArgs {
                        flow,
                        params,
                        digits,
                        query,
                        at: at.map(|t| t.with_timezone(&Utc)),
                        journal,
                    };
                    let code = cli::run_flow(
                        &engine,
                        &args,
                        &mut std::io::stdout(),
                        &mut std::io::stderr(),
                    );
                    if let Err(e) = store.flush() {
                        eprintln!("warning: {e}");
                    }
                    // The scratch store's file must be closed before its folder goes.
                    drop(engine);
                    drop(store);
                    drop(scratch);
                    code
                }
            },
        },
        Command::Call {
            common,
            flow,
            digits,
            params,
            at,
            bridge,
            method,
            kazoo,
            url,
            json,
        } => {
            let args = cli::CallArgs {
                spec: pivotforge::sim::CallSpec {
                    flow,
                    params,
                    digits,
                    bridges: bridge,
                    at: at.map(|t| t.with_timezone(&Utc)),
                    method,
                    kazoo,
                },
                url: url.clone(),
                json,
            };
            let config = match url {
                Some(_) => Ok(None),
                None => resolve(common, Overrides::default()).map(Some),
            };
            match config {
                Err(e) => {
                    eprintln!("pivotforge: {e}");
                    2
                }
                Ok(config) => cli::call(
                    config.as_ref(),
                    &args,
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                ),
            }
        }
        Command::Calls {
            common,
            call_id,
            url,
            flow,
            outcome,
            since,
            limit,
            follow,
        } => {
            let url = match url {
                Some(url) => Ok(url),
                None => {
                    // The address `serve` would listen on, from the same environment.
                    let over = Overrides {
                        listen: std::env::var("PIVOTFORGE_LISTEN").ok(),
                        ..Overrides::default()
                    };
                    resolve(common, over).map(|config| config.public_url)
                }
            };
            match url {
                Err(e) => {
                    eprintln!("pivotforge: {e}");
                    2
                }
                Ok(url) => {
                    let args = CallsArgs {
                        url,
                        call_id,
                        flow,
                        outcome,
                        since,
                        limit,
                        follow,
                    };
                    pivotforge::calls::cli::run(
                        &args,
                        &mut std::io::stdout(),
                        &mut std::io::stderr(),
                    )
                }
            }
        }
        Command::Token { common } => match resolve(common, Overrides::default()) {
            Err(e) => {
                eprintln!("pivotforge: {e}");
                2
            }
            Ok(config) => cli::token(config, &mut std::io::stdout(), &mut std::io::stderr()),
        },
        Command::Test {
            common,
            paths,
            junit,
            jobs,
        } => match resolve(common, Overrides::default()) {
            Err(e) => {
                eprintln!("pivotforge: {e}");
                2
            }
            Ok(config) => {
                let args = pivotforge::scenario::TestArgs { paths, junit, jobs };
                pivotforge::scenario::test_command(
                    &config,
                    &args,
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                )
            }
        },
        Command::Check { common, dir } => {
            let explicit = dir.clone();
            match resolve(common, Overrides::default()) {
                Err(e) => {
                    eprintln!("pivotforge: {e}");
                    2
                }
                Ok(mut config) => {
                    if let Some(dir) = explicit {
                        config.flows_dir = dir;
                    }
                    cli::check(
                        &config.flows_dir,
                        &config.tests_dir(),
                        &config.public_url,
                        &config.events.webhook_flows,
                        &mut std::io::stdout(),
                        &mut std::io::stderr(),
                    )
                }
            }
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
