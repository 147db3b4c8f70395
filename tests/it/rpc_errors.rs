//! A node that answers garbage gives a clear error and no panic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use chainflow::sources::SourceError;
use chainflow::sources::rpc::{ChainConfig, RpcSource};

/// A tiny HTTP server answering every request with `answer(body)`; returns its URL.
fn serve(answer: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = answer(&String::from_utf8_lossy(&body));
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    );
                    if stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(reply.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn id_of(body: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body)
        .map(|v| v["id"].clone())
        .unwrap_or(serde_json::Value::Null)
}

fn first_error(url: String) -> (SourceError, Duration) {
    let started = Instant::now();
    let mut chain = ChainConfig::new(url);
    chain.start_block = Some(0);
    let source = RpcSource::start(vec![chain], Arc::new(AtomicBool::new(false))).unwrap();
    for item in source {
        if let Err(e) = item {
            return (e, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no error within a minute"
        );
    }
    panic!("the source ended without an error");
}

#[test]
fn a_node_answering_non_json_is_a_clear_error() {
    let url = serve(|_| "this is not json-rpc".to_string());
    let (err, _) = first_error(url);
    let msg = err.to_string();
    assert!(!err.is_retryable(), "{msg}");
    assert!(
        msg.contains("eth_chainId") && msg.contains("cannot be decoded"),
        "{msg}"
    );
}

#[test]
fn a_node_answering_a_malformed_block_is_a_clear_error() {
    let url = serve(|body| {
        let id = id_of(body);
        if body.contains("eth_chainId") {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x7a69"}}"#)
        } else {
            // A block without most of its fields and with a number that is not a number.
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"number":"zzz","hash":"0x12"}}}}"#)
        }
    });
    let (err, _) = first_error(url);
    let msg = err.to_string();
    assert!(
        msg.contains("eth_getBlockByNumber") && msg.contains("31337"),
        "{msg}"
    );
    assert!(!err.is_retryable(), "{msg}");
}
