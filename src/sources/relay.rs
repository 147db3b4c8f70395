//! Following a chain across processes over JSON-RPC: process 0 reads the chain and relays
//! every whole-chain event to the other processes, so every process feeds the same events
//! and numbers the same epochs.
//!
//! ```text
//!  node ─► process 0: RpcSource ─► Relayed ─┬─► its feeder
//!                                           ├─► TCP ─► process 1: Follower ─► its feeder
//!                                           └─► TCP ─► process 2: Follower ─► its feeder
//! ```
//!
//! Processes that each follow the node see its reorgs at different moments: one process can
//! hold a block of the old branch at an epoch where another already holds the new branch's
//! block at that height, so an output key has two rows at once and a later retraction of
//! both breaks the key contract (rows go missing). With one reader, a reorg enters every
//! process at the same epoch. Each process's workers still keep their share of
//! the blocks by hash (see `engine::feed`).
//!
//! The relay listens at `[engine] relay` (`CHAINFLOW_ENGINE__RELAY`), by default on process
//! 0's host at the port after the hostfile's highest (see [`relay_address`]). A frame is a little-endian `u32` length and a bincode 2 [`Frame`]. A
//! source error of process 0 is relayed too, so every process stops with it; a follower that
//! loses the connection ends its source with an error.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{SourceError, SourceEvent};

/// Frames larger than this are refused (a block with its transactions and logs is far below).
const MAX_FRAME: usize = 256 << 20;

/// How long process 0 waits for the other processes to connect, and they for it to listen.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// What goes over the wire.
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// An event, as process 0's source emitted it.
    Event(SourceEvent),
    /// Process 0's source failed with this error.
    Error(String),
}

/// [`Frame`] by reference, for sending: encodes exactly as a `Frame` (same variants in the
/// same order), without copying the event.
#[derive(Serialize)]
enum FrameRef<'a> {
    Event(&'a SourceEvent),
    Error(&'a str),
}

fn relay_error(reason: impl Into<String>) -> SourceError {
    SourceError::Relay {
        reason: reason.into(),
    }
}

/// The relay's default address: process 0's host from the hostfile, at the port after the
/// highest port of the hostfile (processes on one host usually take consecutive ports).
/// `None` when an address has no port or the highest is 65535.
pub fn relay_address(addresses: &[String]) -> Option<String> {
    let (host, _) = addresses.first()?.rsplit_once(':')?;
    let mut highest: u16 = 0;
    for address in addresses {
        let (_, port) = address.rsplit_once(':')?;
        highest = highest.max(port.parse().ok()?);
    }
    Some(format!("{host}:{}", highest.checked_add(1)?))
}

/// What a process sends first: the magic, its index and the cluster's process count.
const HELLO: &[u8; 8] = b"CFRELAY1";

/// The index of the process on `stream` from its hello (see [`HELLO`]); the reason when it
/// is not a process `1..processes` of this cluster.
fn hello(stream: &TcpStream, processes: usize) -> Result<usize, String> {
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_nodelay(true))
        .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| e.to_string())?;
    let mut bytes = [0u8; 16];
    (&*stream)
        .read_exact(&mut bytes)
        .map_err(|e| format!("no hello: {e}"))?;
    if &bytes[..8] != HELLO {
        return Err("no chainflow relay hello".into());
    }
    let word = |at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(w) as usize
    };
    let (process, count) = (word(8), word(12));
    if count != processes || process == 0 || process >= processes {
        return Err(format!(
            "process {process} of {count}, not one of processes 1..{processes}"
        ));
    }
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok(process)
}

/// Process 0's side: the other processes' connections.
pub struct Leader {
    followers: Vec<TcpStream>,
}

impl Leader {
    /// Listens at `address` and waits until the other `processes - 1` processes of the
    /// cluster have connected and said who they are (up to [`CONNECT_TIMEOUT`], or until
    /// `shutdown`). A connection that is not a process of this cluster, or a process that is
    /// already connected, is dropped with a warning.
    pub fn accept(
        address: &str,
        processes: usize,
        shutdown: &AtomicBool,
    ) -> Result<Self, SourceError> {
        let followers = processes.saturating_sub(1);
        let listener = TcpListener::bind(address)
            .map_err(|e| relay_error(format!("cannot listen at {address}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| relay_error(format!("listener at {address}: {e}")))?;
        tracing::info!(%address, followers, "relaying chain events to the other processes: waiting for them");
        let started = Instant::now();
        let mut slots: Vec<Option<TcpStream>> = (0..followers).map(|_| None).collect();
        while slots.iter().any(Option::is_none) {
            match listener.accept() {
                Ok((stream, peer)) => match hello(&stream, processes) {
                    Ok(process) => match slots.get_mut(process - 1) {
                        Some(slot @ None) => {
                            tracing::info!(%peer, process, "a process takes the relayed chain events");
                            *slot = Some(stream);
                        }
                        _ => {
                            tracing::warn!(%peer, process, "a second connection of a process to the relay, dropped")
                        }
                    },
                    Err(why) => {
                        tracing::warn!(%peer, %why, "a connection to the relay that is not a process of this cluster, dropped");
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if shutdown.load(Ordering::Relaxed) {
                        return Err(relay_error("stopped while waiting for the other processes"));
                    }
                    if started.elapsed() > CONNECT_TIMEOUT {
                        return Err(relay_error(format!(
                            "{} of {followers} processes connected to {address} within {CONNECT_TIMEOUT:?}",
                            slots.iter().flatten().count()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(relay_error(format!("accepting at {address}: {e}"))),
            }
        }
        Ok(Leader {
            followers: slots.into_iter().flatten().collect(),
        })
    }

    /// `source`, with every whole-chain event (one the engine numbers: `epoch` is `None`) and
    /// every error also sent to the other processes. A process's own numbered share (a
    /// replay's split part) stays its own.
    pub fn relay<I>(self, source: I) -> Relayed<I::IntoIter>
    where
        I: IntoIterator<Item = Result<SourceEvent, SourceError>>,
    {
        Relayed {
            source: source.into_iter(),
            followers: self.followers,
            failed: false,
        }
    }
}

/// Process 0's source, relaying as it goes (see [`Leader::relay`]).
pub struct Relayed<I> {
    source: I,
    followers: Vec<TcpStream>,
    failed: bool,
}

impl<I> Relayed<I> {
    fn send(&mut self, frame: &FrameRef<'_>) -> Result<(), SourceError> {
        // The length goes first: encoded after 4 bytes kept for it.
        let mut bytes = vec![0u8; 4];
        bincode::serde::encode_into_std_write(frame, &mut bytes, bincode::config::standard())
            .map_err(|e| relay_error(format!("cannot encode an event: {e}")))?;
        let size = bytes.len() - 4;
        let len = u32::try_from(size)
            .ok()
            .filter(|n| (*n as usize) <= MAX_FRAME)
            .ok_or_else(|| relay_error(format!("an event of {size} bytes is too large")))?;
        bytes[..4].copy_from_slice(&len.to_le_bytes());
        for (i, stream) in self.followers.iter_mut().enumerate() {
            stream.write_all(&bytes).map_err(|e| {
                relay_error(format!("relaying to the process of connection {i}: {e}"))
            })?;
        }
        Ok(())
    }
}

impl<I> Iterator for Relayed<I>
where
    I: Iterator<Item = Result<SourceEvent, SourceError>>,
{
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.source.next()?;
        let sent = match &item {
            Ok(event) if event.epoch.is_none() => self.send(&FrameRef::Event(event)),
            Ok(_) => Ok(()),
            Err(e) => self.send(&FrameRef::Error(&e.to_string())),
        };
        match sent {
            Ok(()) => Some(item),
            Err(e) => {
                // A process that cannot be reached stops the cluster: the others would wait
                // for its progress forever.
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Another process's side: the events process 0 relays, in its order.
pub struct Follower {
    stream: TcpStream,
    shutdown: Arc<AtomicBool>,
    buf: Vec<u8>,
    done: bool,
}

impl Follower {
    /// Connects to process 0's relay at `address` as `process` of `processes`, trying again
    /// until it listens (up to [`CONNECT_TIMEOUT`], or until `shutdown`).
    pub fn connect(
        address: &str,
        (process, processes): (usize, usize),
        shutdown: Arc<AtomicBool>,
    ) -> Result<Self, SourceError> {
        let started = Instant::now();
        let stream = loop {
            let addrs: Vec<SocketAddr> = address
                .to_socket_addrs()
                .map_err(|e| relay_error(format!("cannot resolve {address}: {e}")))?
                .collect();
            let mut last = None;
            let mut connected = None;
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                    Ok(s) => {
                        connected = Some(s);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(s) = connected {
                break s;
            }
            if shutdown.load(Ordering::Relaxed) {
                return Err(relay_error("stopped while waiting for process 0"));
            }
            if started.elapsed() > CONNECT_TIMEOUT {
                return Err(relay_error(format!(
                    "process 0 did not listen at {address} within {CONNECT_TIMEOUT:?}: {}",
                    last.map_or_else(|| "no address".to_string(), |e| e.to_string())
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut hello = HELLO.to_vec();
        for n in [process, processes] {
            let n = u32::try_from(n)
                .map_err(|_| relay_error(format!("process {n} does not fit the hello")))?;
            hello.extend_from_slice(&n.to_le_bytes());
        }
        (&stream)
            .write_all(&hello)
            .and_then(|()| stream.set_read_timeout(Some(Duration::from_millis(200))))
            .map_err(|e| relay_error(format!("connection to {address}: {e}")))?;
        tracing::info!(%address, "taking the chain events process 0 relays");
        Ok(Follower {
            stream,
            shutdown,
            buf: Vec::new(),
            done: false,
        })
    }

    /// Reads until `buf` holds `n` bytes. `Ok(false)`: the stream ended (cleanly only when
    /// nothing of a frame was read) or the run stops.
    fn fill(&mut self, n: usize) -> Result<bool, SourceError> {
        let mut filled = self.buf.len();
        self.buf.resize(n, 0);
        while filled < n {
            match self.stream.read(&mut self.buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(relay_error(format!(
                        "process 0 closed the relay in the middle of a frame ({filled} of {n} bytes)"
                    )));
                }
                Ok(read) => filled += read,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.shutdown.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(relay_error(format!("reading the relay: {e}"))),
            }
        }
        Ok(true)
    }

    fn read_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.buf.clear();
        if !self.fill(4)? {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[..4]);
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(relay_error(format!("a frame of {len} bytes is too large")));
        }
        if !self.fill(4 + len)? {
            return Ok(None);
        }
        let (frame, read) = bincode::serde::decode_from_slice::<Frame, _>(
            &self.buf[4..],
            bincode::config::standard(),
        )
        .map_err(|e| relay_error(format!("a frame does not decode: {e}")))?;
        if read != len {
            return Err(relay_error(format!(
                "a frame of {len} bytes decoded from {read}"
            )));
        }
        Ok(Some(frame))
    }
}

impl Iterator for Follower {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.read_frame() {
            Ok(Some(Frame::Event(event))) => Ok(event),
            Ok(Some(Frame::Error(reason))) => {
                Err(relay_error(format!("process 0's source failed: {reason}")))
            }
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => Err(e),
        };
        self.done = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChainEvent;

    fn event(n: u64) -> SourceEvent {
        let block = crate::model::testing::block(n, 1_700_000_000 + n, 7, Vec::new());
        SourceEvent {
            event: ChainEvent::Committed { new: vec![block] },
            finalized: Some((1, n.saturating_sub(2))),
            caught_up: n > 1,
            epoch: None,
        }
    }

    #[test]
    fn the_relay_address_is_process_0s_host_after_the_highest_port() {
        let hosts = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            relay_address(&hosts(&["10.0.0.1:2101", "10.0.0.2:2101"])).as_deref(),
            Some("10.0.0.1:2102")
        );
        assert_eq!(
            relay_address(&hosts(&[
                "127.0.0.1:2101",
                "127.0.0.1:2102",
                "127.0.0.1:2103"
            ]))
            .as_deref(),
            Some("127.0.0.1:2104")
        );
        assert_eq!(relay_address(&hosts(&["host:65535"])), None);
        assert_eq!(relay_address(&hosts(&["host"])), None);
        assert_eq!(relay_address(&hosts(&["a:1", "b"])), None);
        assert_eq!(relay_address(&[]), None);
    }

    #[test]
    fn followers_read_process_0s_whole_chain_events_and_errors_in_order() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let stop = Arc::new(AtomicBool::new(false));
        let followers: Vec<_> = (1..3)
            .map(|process| {
                let (address, stop) = (address.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    // A stranger and a process of another cluster come first: dropped.
                    if process == 1 {
                        let _ = TcpStream::connect(&address)
                            .map(|mut s| s.write_all(b"GET / HTTP/1.0\r\n\r\n"));
                        let mut other = HELLO.to_vec();
                        other.extend_from_slice(&1u32.to_le_bytes());
                        other.extend_from_slice(&5u32.to_le_bytes());
                        let _ = TcpStream::connect(&address).map(|mut s| s.write_all(&other));
                    }
                    Follower::connect(&address, (process, 3), stop)
                        .unwrap()
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let leader = Leader::accept(&address, 3, &stop).unwrap();
        let mut own = event(3);
        own.epoch = Some(4);
        let source = vec![
            Ok(event(1)),
            Ok(own.clone()),
            Ok(event(2)),
            Err(SourceError::Invalid {
                chain_id: 1,
                what: "block 5".into(),
                reason: "garbage".into(),
            }),
        ];
        let seen: Vec<_> = leader.relay(source).collect();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1].as_ref().unwrap(), &own);
        for follower in followers {
            let got = follower.join().unwrap();
            assert_eq!(got.len(), 3, "{got:?}");
            assert_eq!(got[0].as_ref().unwrap(), &event(1));
            // The numbered share stays with process 0.
            assert_eq!(got[1].as_ref().unwrap(), &event(2));
            let err = got[2].as_ref().unwrap_err().to_string();
            assert!(err.contains("garbage"), "{err}");
        }
    }

    #[test]
    fn a_truncated_or_garbage_frame_is_an_error_not_a_panic() {
        for bytes in [
            vec![10u8, 0, 0, 0, 1, 2],
            vec![3u8, 0, 0, 0, 0xff, 0xff, 0xff],
            vec![0xff, 0xff, 0xff, 0xff],
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap().to_string();
            let writer = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut hello = [0u8; 16];
                s.read_exact(&mut hello).unwrap();
                s.write_all(&bytes).unwrap();
            });
            let follower =
                Follower::connect(&address, (1, 2), Arc::new(AtomicBool::new(false))).unwrap();
            writer.join().unwrap();
            let got: Vec<_> = follower.collect();
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(got[0].is_err());
        }
    }
}
