//! The HTTP service: routes, shared state, and starting the server in the foreground (`serve`)
//! or in the background (tests and benchmarks).

pub mod error;
pub mod pivot;
pub mod reply;
mod routes;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::Engine;

/// What every handler shares.
pub struct AppState {
    /// The resolved configuration.
    pub config: Config,
    /// Loaded flows and schemas.
    pub engine: Arc<Engine>,
    /// The clock flows read.
    pub clock: Arc<dyn Clock>,
}

/// Registers every route; the same function serves the real server and tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // A scope, not a `{flow:.*}` pattern: the flow name is read from the path directly,
        // which spares a regex match on every call step.
        web::scope("/pivot").default_service(web::to(pivot::pivot)),
    )
    .route("/healthz", web::get().to(routes::healthz))
    .route("/schemas", web::get().to(routes::schema_index))
    .route("/schemas/{name}.json", web::get().to(routes::schema))
    .default_service(web::to(routes::not_found));
}

/// Builds the state: loads flows (a broken flow file is reported, not fatal).
pub fn state(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<AppState> {
    let engine = Engine::load(&config.flows_dir, &config.public_url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
    for problem in engine.registry().errors() {
        tracing::error!(error = %problem, "flow not loaded");
    }
    Ok(AppState {
        config,
        engine: Arc::new(engine),
        clock,
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
    Ok(
        HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
            .workers(workers)
            .listen(listener)?
            .run(),
    )
}

/// Runs the service until it is stopped (Ctrl-C / SIGTERM).
pub fn run(config: Config, clock: Arc<dyn Clock>) -> std::io::Result<()> {
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
    actix_web::rt::System::new().block_on(async move { server(listener, state)?.await })
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
