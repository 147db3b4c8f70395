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
                    // An answer may start with a status line of its own: "429 ...\n<body>".
                    let (status, reply) = match reply.split_once('\n') {
                        Some((status, rest)) if status.starts_with("429") => {
                            (status.to_string(), rest.to_string())
                        }
                        _ => ("200 OK".to_string(), reply),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n",
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

static RATE_LIMITED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn rate_limit_answers_are_waited_out_and_retried() {
    use chainflow::sources::rpc::client::{ClientConfig, NodeClient};
    let url = serve(|body| {
        let id = id_of(body);
        if RATE_LIMITED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            "429 Too Many Requests\n{\"error\":\"slow down\"}".to_string()
        } else {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x7a69"}}"#)
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let client = rt
        .block_on(NodeClient::connect(ClientConfig::new(url)))
        .unwrap();
    assert_eq!(client.chain_id(), 31337);
    assert_eq!(
        RATE_LIMITED.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two 429 answers, then success"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "Retry-After was honoured: {:?}",
        started.elapsed()
    );
}
