//! Integration tests of the `coffer` binary: real server processes on 127.0.0.1, the Rust
//! client, the `coffer` CLI and the stock OpenBao CLI.

mod access_cli;
mod audit;
mod bao_access;
mod bao_cli;
mod bao_kv;
mod bao_leases;
mod cli;
mod credentials_cli;
mod database_cli;
mod grants_cli;
mod ha;
mod kv_cli;
mod kv_http;
mod leases;
mod lifecycle;
mod migrate;
mod namespaces_cli;
mod run_cli;
mod secrets_guide;
mod secrets_sdk;
mod server;
mod support;
mod tidy;
mod transfer_cli;
