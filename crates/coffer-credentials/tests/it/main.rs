//! Integration tests for `coffer-credentials`: one table of tiny cases per credential type.
//! Keys and certificates are generated during the test run (rcgen, `ssh-keygen`, `openssl`);
//! no private key is checked in.

mod api_key;
mod database;
mod generic;
mod name;
mod oauth;
mod ssh;
mod support;
mod tls;
