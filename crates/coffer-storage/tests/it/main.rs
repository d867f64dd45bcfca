//! The storage integration tests: the conformance suite on every backend, and each backend's own
//! promises (SQLite durability and file mode, PostgreSQL connection handling).

mod memory;
mod postgres;
mod sqlite;
