//! Integration tests of the `coffer` binary: real server processes on 127.0.0.1, the Rust
//! client, the `coffer` CLI and the stock OpenBao CLI.

mod bao_cli;
mod cli;
mod lifecycle;
mod server;
mod support;
mod tidy;
