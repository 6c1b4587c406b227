//! The HTTP service: routes, shared state, and starting the server in the foreground (`serve`)
//! or in the background (tests and benchmarks).

mod body;
mod calls;
pub mod capacity;
pub mod console;
pub mod error;
mod events;
pub mod flows;
pub mod guard;
pub mod openapi;
mod ops;
pub mod pivot;
mod recordings;
pub mod reply;
mod routes;
mod run;
pub mod ui;
mod userspace;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use self::guard::Area;
use crate::calls::CallLog;
use crate::clock::Clock;
use crate::config::Config;
use crate::engine::Engine;
use crate::events::Doorbell;
use crate::metrics::Metrics;
use crate::recordings::Recordings;
use crate::store::Store;

/// What every handler shares.
pub struct AppState {
    /// The resolved configuration.
    pub config: Config,
    /// Loaded flows and schemas.
    pub engine: Arc<Engine>,
    /// The clock flows read.
    pub clock: Arc<dyn Clock>,
    /// Shared state: cxKV, userspace, the event queue.
    pub store: Arc<dyn Store>,
    /// Wakes the post-call worker.
    pub doorbell: Doorbell,
    /// Stored recordings: files, metadata, access.
    pub recordings: Recordings,
    /// The exchange log.
    pub calls: Arc<CallLog>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// What `/events` remembers: the warnings given.
    pub intake: crate::webhook::Intake,
    /// The console's simulated calls playing now.
    pub simulations: console::Simulations,
}

/// One route: the first path segment it serves, the access area it declares, and how it is
/// mounted. The guard reads the areas from this list, so a route and its area can't drift apart.
pub(crate) struct Route {
    /// The first path segment (`pivot` for `/pivot/…`).
    pub segment: &'static str,
    /// Who may call it ([`guard`] checks the credentials of that area).
    pub area: Area,
    /// Its paths as `openapi.json` names them, each with the methods it answers; a test holds
    /// the description to this list both ways.
    pub endpoints: &'static [(&'static str, &'static [&'static str])],
    mount: fn(&mut web::ServiceConfig),
}

/// Every route of the service. Uploads (`PUT`/`POST /recordings…`) check their own credentials:
/// the guard opens them by method (see [`Area::of`]). A path no route names is admin.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        segment: "pivot",
        area: Area::Pivot,
        endpoints: &[("/pivot/{flow}", &["GET", "POST"])],
        // A scope, not a `{flow:.*}` pattern: the flow name is read from the path directly,
        // which spares a regex match on every call step.
        mount: |cfg| {
            cfg.service(web::scope("/pivot").default_service(web::to(pivot::pivot)));
        },
    },
    Route {
        segment: "run",
        area: Area::Admin,
        endpoints: &[
            ("/run/{script}", &["POST"]),
            ("/run/{script}/{function}", &["POST"]),
        ],
        mount: |cfg| {
            cfg.service(web::scope("/run").default_service(web::to(run::run)));
        },
    },
    Route {
        segment: "events",
        area: Area::Pivot,
        endpoints: &[("/events/{flow}", &["GET", "POST", "PUT"])],
        mount: |cfg| {
            cfg.service(web::scope("/events").default_service(web::to(events::accept)));
        },
    },
    Route {
        segment: "recordings",
        area: Area::Recordings,
        endpoints: &[
            ("/recordings", &["GET", "HEAD", "PUT", "POST"]),
            (
                "/recordings/{id}",
                &["GET", "HEAD", "DELETE", "PUT", "POST"],
            ),
            ("/recordings/{id}/audio", &["GET", "HEAD"]),
        ],
        // Upload URLs come in many shapes (reference §4), so the handler reads the path itself.
        mount: |cfg| {
            cfg.service(web::scope("/recordings").default_service(web::to(recordings::dispatch)));
        },
    },
    Route {
        segment: "userspace",
        area: Area::Admin,
        endpoints: &[
            ("/userspace/{area}/{key}", &["GET", "PUT", "DELETE"]),
            ("/userspace/{area}", &["GET"]),
        ],
        mount: |cfg| {
            cfg.service(
                web::resource("/userspace/{area}/{key}")
                    .route(web::get().to(userspace::read))
                    .route(web::put().to(userspace::write))
                    .route(web::delete().to(userspace::remove))
                    // Another method gets the JSON 405 the default service gives, not an empty one.
                    .default_service(web::to(routes::not_found)),
            )
            .route("/userspace/{area}", web::get().to(userspace::list));
        },
    },
    Route {
        segment: "calls",
        area: Area::Admin,
        endpoints: &[
            ("/calls", &["GET"]),
            ("/calls/{call_id}", &["GET"]),
            ("/calls/{call_id}/scenario", &["GET"]),
        ],
        mount: |cfg| {
            cfg.route("/calls", web::get().to(calls::list))
                .route("/calls/{call_id}", web::get().to(calls::one))
                .route(
                    "/calls/{call_id}/scenario",
                    web::get().to(console::from_log),
                );
        },
    },
    Route {
        segment: "api",
        area: Area::Admin,
        endpoints: &[("/api/call", &["POST"]), ("/api/call/scenario", &["POST"])],
        // The console's whole-call API: the chosen instant is accepted here only, never on
        // /pivot.
        mount: |cfg| {
            cfg.route("/api/call", web::to(console::call))
                .route("/api/call/scenario", web::to(console::scenario));
        },
    },
    Route {
        segment: "flows",
        area: Area::Admin,
        endpoints: &[("/flows", &["GET"])],
        mount: |cfg| {
            cfg.route("/flows", web::get().to(flows::list));
        },
    },
    Route {
        segment: "ui",
        area: Area::Admin,
        endpoints: &[
            ("/ui", &["GET", "HEAD"]),
            ("/ui/", &["GET", "HEAD"]),
            ("/ui/{file}", &["GET", "HEAD"]),
        ],
        mount: |cfg| {
            cfg.service(web::scope("/ui").default_service(web::to(ui::serve)));
        },
    },
    Route {
        segment: "healthz",
        area: Area::Open,
        endpoints: &[("/healthz", &["GET"])],
        mount: |cfg| {
            cfg.route("/healthz", web::get().to(routes::healthz));
        },
    },
    Route {
        segment: "readyz",
        area: Area::Open,
        endpoints: &[("/readyz", &["GET"])],
        mount: |cfg| {
            cfg.route("/readyz", web::get().to(ops::readyz));
        },
    },
    Route {
        segment: "metrics",
        area: Area::Admin,
        endpoints: &[("/metrics", &["GET"])],
        mount: |cfg| {
            cfg.route("/metrics", web::get().to(ops::metrics));
        },
    },
    Route {
        segment: "openapi.json",
        area: Area::Open,
        endpoints: &[("/openapi.json", &["GET"])],
        mount: |cfg| {
            cfg.route("/openapi.json", web::get().to(openapi::serve));
        },
    },
    Route {
        segment: "schemas",
        area: Area::Open,
        endpoints: &[("/schemas", &["GET"]), ("/schemas/{name}.json", &["GET"])],
        mount: |cfg| {
            cfg.route("/schemas", web::get().to(routes::schema_index))
                .route("/schemas/{name}.json", web::get().to(routes::schema));
        },
    },
];

/// Registers every route; the same function serves the real server and tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for route in ROUTES {
        (route.mount)(cfg);
    }
    cfg.default_service(web::to(routes::not_found));
}

/// Refuses any method but POST on `route` with 405.
pub(crate) fn require_post(
    req: &actix_web::HttpRequest,
    route: &str,
) -> Result<(), error::ApiError> {
    if req.method() == actix_web::http::Method::POST {
        return Ok(());
    }
    Err(error::ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {route}: use POST",
        req.method()
    )))
}

/// Runs a store operation off the HTTP worker (a durable write waits for the disk).
pub(crate) async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, error::ApiError> {
    let store = state.store.clone();
    web::block(move || f(store.as_ref()))
        .await
        .map_err(|e| error::ApiError::Internal(e.to_string()))?
        .map_err(error::ApiError::from)
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Builds the state: opens the store, loads userspace lists and flows (a broken flow file is
/// reported, not fatal), starts the JS pool, the post-call worker and the flows watcher.
pub fn state(mut config: Config, clock: Arc<dyn Clock>) -> std::io::Result<AppState> {
    config
        .derive_url_tokens()
        .map_err(|e| std::io::Error::new(e.kind(), format!("can't derive the URL tokens: {e}")))?;
    let store = crate::store::open(&config.store, &config.data_dir).map_err(io_error)?;
    match crate::store::load_lists(store.as_ref(), &config.flows_dir.join("lists")) {
        Ok(loaded) => {
            for (area, rows) in loaded {
                tracing::info!(area = %area, rows, "userspace list loaded");
            }
        }
        Err(e) => tracing::error!(error = %e, "userspace lists not loaded"),
    }
    let engine = Arc::new(Engine::start(
        config.engine_options(),
        &config.pool,
        store.clone(),
        config.js_threads,
        config.js_queue,
    )?);
    for problem in engine.registry().errors() {
        tracing::error!(error = %problem, "flow not loaded");
    }
    for warning in crate::webhook::unfit_flows(&engine.registry(), &config.events.webhook_flows) {
        tracing::warn!("{warning}");
    }
    let recordings = Recordings::open(
        config.recordings_dir(),
        &config.recordings,
        store.clone(),
        clock.clone(),
    )?;
    let metrics = Arc::new(Metrics::new(engine.clone()));
    let masker = crate::calls::Masker::new(config.secrets());
    let calls = Arc::new(
        CallLog::start(store.clone(), clock.clone(), &config.calls, masker.clone())
            .map_err(io_error)?,
    );
    metrics.track_calls(calls.clone());
    let doorbell = Doorbell::default();
    crate::events::start(
        &engine,
        &store,
        doorbell.clone(),
        clock.clone(),
        config.events.clone(),
        masker,
    )?;
    if let Err(e) = crate::reload::watch(&engine, store.clone()) {
        tracing::warn!(error = %e, "flow files are not watched: restart to pick up changes");
    }
    Ok(AppState {
        config,
        engine,
        clock,
        store,
        doorbell,
        recordings,
        calls,
        metrics,
        intake: crate::webhook::Intake::default(),
        simulations: console::Simulations::default(),
    })
}

fn server(
    listener: TcpListener,
    state: web::Data<AppState>,
) -> std::io::Result<actix_web::dev::Server> {
    let workers = state
        .config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let capacity = capacity::plan(state.config.limits.max_connections, workers);
    capacity::widen_backlog(&listener);
    let rules = Arc::new(guard::Rules::new(&state.config, state.metrics.clone()));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(guard::Guard::new(rules.clone()))
            .configure(routes)
    })
    .workers(workers)
    .max_connections(capacity.per_worker)
    .listen(listener)?
    .run())
}

/// Refuses to serve the admin endpoints to the network without credentials (unless told to),
/// and warns about what is open.
pub fn check_exposure(config: &Config) -> std::io::Result<()> {
    let warnings = config
        .auth
        .exposure(config.listen)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// Runs the service until it is stopped (Ctrl-C / SIGTERM).
pub fn run(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<()> {
    check_exposure(&config)?;
    let listener = TcpListener::bind(config.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "can't listen on {}: {e}; pick another with --listen",
                config.listen
            ),
        )
    })?;
    let state = web::Data::new(state(config, clock)?);
    tracing::info!(
        listen = %state.config.listen,
        flows = %state.config.flows_dir.display(),
        public_url = %state.config.public_url,
        loaded = state.engine.registry().entries().count(),
        "pivotforge serving"
    );
    let store = state.store.clone();
    let served =
        actix_web::rt::System::new().block_on(async move { server(listener, state)?.await });
    if let Err(e) = store.flush() {
        tracing::error!(error = %e, "could not make the last cxKV writes durable");
    }
    served
}

/// A server running on its own thread; stopped when dropped.
pub struct RunningServer {
    /// The bound address (a random port when asked for port 0).
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl RunningServer {
    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// Starts the service on a background thread and returns once it accepts connections.
pub fn spawn(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<RunningServer> {
    check_exposure(&config)?;
    let listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let state = web::Data::new(state(config, clock)?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match server(listener, state) {
                Ok(server) => {
                    let _ = tx.send(Ok(server.handle()));
                    let _ = server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
    });
    let handle = rx
        .recv()
        .map_err(|_| std::io::Error::other("server thread ended before starting"))??;
    Ok(RunningServer { addr, handle })
}
