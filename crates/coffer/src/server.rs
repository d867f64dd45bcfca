//! `coffer server`: opens storage, builds the core, listens (plain or TLS via rustls), runs the
//! background jobs, and shuts down gracefully on SIGTERM/SIGINT — in-flight requests finish, then
//! the core seals and storage closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::ConnectInfo;
use coffer_core::clock::SystemClock;
use coffer_core::{AutoUnsealKey, Core, CoreConfig, EngineRegistry, HaConfig};
use coffer_http::HttpConfig;
use coffer_storage::Storage;
use coffer_storage::memory::MemoryBackend;
use coffer_storage::postgres::{PostgresBackend, PostgresConfig, PostgresHa};
use coffer_storage::sqlite::{SqliteBackend, SqliteConfig};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt as _;

use crate::config::{AutoUnsealSource, ServerConfig, StorageConfig, TlsFiles};
use crate::output;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the background jobs run.
const BACKGROUND_INTERVAL: Duration = Duration::from_secs(1);

/// Dev-mode settings.
#[derive(Debug, Clone)]
pub(crate) struct DevOptions {
    /// A fixed root token id.
    pub(crate) root_token_id: Option<String>,
}

/// Opens the configured storage backend.
pub(crate) async fn open_storage(config: &StorageConfig) -> anyhow::Result<Storage> {
    Ok(match config {
        StorageConfig::Memory => Storage::new(MemoryBackend::new()),
        StorageConfig::Sqlite { path } => {
            let backend = SqliteBackend::open(SqliteConfig::new(path.clone()))
                .await
                .with_context(|| format!("opening SQLite storage at {}", path.display()))?;
            Storage::new(backend)
        }
        StorageConfig::Postgres {
            connection_url,
            table,
            schema,
            max_connections,
            ha_table,
        } => {
            let config = PostgresConfig {
                connection_url: connection_url.clone(),
                table: table.clone(),
                schema: schema.clone(),
                max_connections: *max_connections,
                ha: ha_table.as_ref().map(|ha_table| PostgresHa {
                    ha_table: ha_table.clone(),
                    classify: coffer_core::cache_kind,
                }),
            };
            let backend = PostgresBackend::connect(config)
                .await
                .context("opening PostgreSQL storage")?;
            if ha_table.is_some() {
                Storage::with_ha(Arc::new(backend))
            } else {
                Storage::new(backend)
            }
        }
    })
}

fn load_auto_unseal(source: &AutoUnsealSource) -> anyhow::Result<AutoUnsealKey> {
    let text = match source {
        AutoUnsealSource::File(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the auto-unseal key file {}", path.display()))?,
        AutoUnsealSource::Env(name) => std::env::var(name)
            .with_context(|| format!("the auto-unseal key variable {name} is not set"))?,
    };
    AutoUnsealKey::parse(&text).context("loading the auto-unseal key")
}

fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert_file)
        .with_context(|| format!("reading TLS certificate {}", files.cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing TLS certificate {}", files.cert_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate found in {}", files.cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .with_context(|| format!("reading TLS private key {}", files.key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("configuring TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Refuses a store that `coffer operator migrate` is still writing (or was interrupted writing):
/// it holds only part of the records.
async fn refuse_unfinished_migration(storage: &Storage) -> anyhow::Result<()> {
    let checkpoint = storage
        .get(coffer_storage::migration::CHECKPOINT_KEY)
        .await
        .context("checking storage for an unfinished migration")?;
    if checkpoint.is_some() {
        bail!(
            "this storage is the destination of an unfinished `coffer operator migrate` ({} is \
             set): run the migration again to complete it",
            coffer_storage::migration::CHECKPOINT_KEY
        );
    }
    Ok(())
}

/// Runs the server until a shutdown signal.
pub(crate) async fn run(config: ServerConfig, dev: Option<DevOptions>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let storage = open_storage(&config.storage).await?;
    refuse_unfinished_migration(&storage).await?;
    // A read cache of ciphertext records, as Vault keeps one; never for a store several nodes
    // share (`with_read_cache` leaves those alone) and pointless for the in-memory store.
    let storage = match config.storage {
        StorageConfig::Memory => storage,
        _ if config.disable_cache => storage,
        _ => storage.with_read_cache(coffer_storage::cache::DEFAULT_CACHE_BYTES),
    };
    let acceptor = config.listener.tls.as_ref().map(tls_acceptor).transpose()?;
    let bind = crate::config::listen_addr(&config.listener.address)?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let api_addr = config
        .api_addr
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    let auto_unseal = config
        .auto_unseal
        .as_ref()
        .map(load_auto_unseal)
        .transpose()?;
    let core = Core::new(CoreConfig {
        storage,
        clock: Arc::new(SystemClock),
        auto_unseal,
        engines: EngineRegistry::new(coffer_engines::factories()),
        audit_devices: config.audit.clone(),
        ha: Some(HaConfig {
            api_addr: api_addr.clone(),
            cluster_addr: config
                .cluster_addr
                .clone()
                .unwrap_or_else(|| api_addr.clone()),
        }),
    })
    .await
    .context("starting the core")?;
    let dev_init = match &dev {
        Some(dev) => Some(
            core.dev_init(dev.root_token_id.clone())
                .await
                .context("initializing dev mode")?,
        ),
        None => None,
    };
    output::server_banner(&output::Banner {
        api_addr,
        listen: local,
        tls: acceptor.is_some(),
        storage: core.storage_type(),
        log_level: &config.log_level,
        dev: dev_init.as_ref(),
    });
    tracing::info!(address = %local, tls = acceptor.is_some(), storage = core.storage_type(), elapsed_ms = started.elapsed().as_millis() as u64, "listening");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(reopen_on_sighup(core.clone(), stop_rx.clone()));
    let background = tokio::spawn(
        core.clone()
            .run_background(BACKGROUND_INTERVAL, wait_for(stop_rx)),
    );
    serve(listener, acceptor, core.clone()).await;
    let _ = stop_tx.send(true);
    let _ = background.await;
    core.shutdown().await.context("closing storage")?;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// SIGHUP reopens audit files, so a log rotation moves the old file away and the new one starts.
async fn reopen_on_sighup(core: Arc<Core>, stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP; audit files are not reopened on rotation");
            return;
        };
        let stopped = wait_for(stop);
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP received, reopening audit files");
                    core.reopen_audit().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (core, stop);
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(listener: TcpListener, acceptor: Option<TlsAcceptor>, core: Arc<Core>) {
    let app = coffer_http::app(core, HttpConfig::vault_defaults());
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                request
            },
        );
        let service = TowerToHyperService::new(service);
        match &acceptor {
            None => {
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .into_owned();
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("in-flight requests finished"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("timed out waiting for in-flight requests"),
    }
}
