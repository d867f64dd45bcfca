//! The database secrets engine (type `database`), Vault's API shape: connection configs,
//! dynamic roles and static roles (the engine itself follows).
//!
//! The [`plugin`] module is the reusable connection layer (PostgreSQL and MySQL/MariaDB).

mod mysql;
pub mod plugin;
mod postgres;
