//! The socket device: lines over TCP and Unix streams, one reconnect after a broken connection.

use std::io::Cursor;

use coffer_audit::{AuditSink, Device, DeviceConfig, Error, SocketSink, verify};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

use crate::{PATIENCE, request_event, salt};

fn socket_config(address: &str, socket_type: &str) -> DeviceConfig {
    DeviceConfig {
        name: "socket/".to_owned(),
        kind: "socket".to_owned(),
        options: [
            ("address".to_owned(), address.to_owned()),
            ("socket_type".to_owned(), socket_type.to_owned()),
        ]
        .into(),
        description: String::new(),
    }
}

async fn read_line(reader: &mut (impl AsyncBufReadExt + Unpin)) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("read");
    line
}

#[tokio::test]
async fn records_go_over_tcp_and_chain() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let device = Device::open(socket_config(&address, "tcp"), salt(5)).expect("valid");
    let writer = async {
        for i in 0..3 {
            device
                .log(
                    &request_event(&format!("r{i}"), "read", "secret/data/a"),
                    PATIENCE,
                )
                .await
                .expect("collector listening");
        }
    };
    let collector = async {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut reader = BufReader::new(stream);
        let mut text = String::new();
        for _ in 0..3 {
            text.push_str(&read_line(&mut reader).await);
        }
        text
    };
    let ((), text) = tokio::join!(writer, collector);
    let report = verify(Cursor::new(text.into_bytes())).expect("in-memory reads");
    assert_eq!((report.records, report.problem), (3, None));
}

#[tokio::test]
async fn a_broken_unix_connection_is_reopened_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let sink = SocketSink::connect(path.to_str().expect("UTF-8 path"), "unix").expect("valid");

    sink.write_line(b"one").await.expect("connected");
    let (first, _) = listener.accept().await.expect("accept");
    let mut first = BufReader::new(first);
    assert_eq!(read_line(&mut first).await, "one\n");
    drop(first);

    // The peer is gone: the write fails, the sink reconnects and sends the line again.
    sink.write_line(b"two").await.expect("reconnected");
    let (second, _) = listener.accept().await.expect("accept");
    let mut second = BufReader::new(second);
    assert_eq!(read_line(&mut second).await, "two\n");

    // After `reopen` the next line goes over a fresh connection.
    sink.reopen().await.expect("reopen");
    sink.write_line(b"three").await.expect("connected");
    let (third, _) = listener.accept().await.expect("accept");
    assert_eq!(read_line(&mut BufReader::new(third)).await, "three\n");
}

#[tokio::test]
async fn an_unreachable_collector_is_a_device_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nobody.sock");
    let sink = SocketSink::connect(path.to_str().expect("UTF-8 path"), "unix").expect("valid");
    assert!(matches!(
        sink.write_line(b"x").await,
        Err(Error::Device { .. })
    ));

    let device = Device::open(
        socket_config(path.to_str().expect("UTF-8 path"), "unix"),
        salt(5),
    )
    .expect("valid");
    let error = device
        .log(&request_event("r1", "read", "secret/data/a"), PATIENCE)
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(&error, Error::Device { name, .. } if name == "socket/"),
        "{error}"
    );
    assert_eq!(device.chain().await.seq(), 0);
    assert_eq!(device.last_error(), Some(error.to_string()));
}
