//! Integration tests of the engines over a real barrier on in-memory storage: one module per
//! engine, sharing the fixtures in `support`.

mod approle;
mod cubbyhole;
mod kv_v1;
mod kv_v2;
mod support;
mod userpass;
