//! The bare-HTTP ceiling for `bench/run`: an axum server that answers every request, whatever
//! its method and path, with the same small JSON body and no other work. The benchmark runs its
//! workloads against it to show what this machine's loopback, HTTP stack and load generator allow.
//!
//! Usage: `cargo run --release -p coffer-http --example bench_ceiling -- 127.0.0.1:18250`

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The fixed reply: about the size of a small KV v2 read answer's envelope.
const BODY: &str = r#"{"request_id":"00000000-0000-0000-0000-000000000000","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"api_key":"ceiling"}},"wrap_info":null,"warnings":null,"auth":null}"#;

async fn fixed() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18250".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("bench_ceiling listening on http://{address}");
    axum::serve(listener, Router::new().fallback(fixed)).await
}
