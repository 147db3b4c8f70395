//! A bounded hand-off queue between two threads that never spins: a waiting side sleeps on a
//! condition variable at once, and the other side wakes it only when it is asleep.
//!
//! The ingress hands every decoded event to the engine's feeder through one. A
//! `crossbeam_channel` receiver that finds its channel empty first spins and calls
//! `sched_yield` several times before it sleeps; at one event per message that spinning is
//! CPU taken from the NATS server and the decoder on a busy machine (`benches/nats.rs`
//! measures it). Here the reader takes everything queued in one lock ([`Receiver::recv_all`]),
//! so a backlog costs one lock per batch, not per item.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct State<T> {
    items: VecDeque<T>,
    /// The sender or the receiver is gone.
    closed: bool,
    reader_waits: bool,
    writer_waits: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    readable: Condvar,
    writable: Condvar,
    capacity: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        drop(state);
        self.readable.notify_all();
        self.writable.notify_all();
    }
}

/// The sending side; dropping it closes the queue (the receiver still gets what is queued).
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side; dropping it closes the queue (a waiting sender gets its item back).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// Why [`Sender::send_timeout`] gave the item back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The queue stayed full until the timeout.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Why [`Receiver::recv_all`] returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// The sender is gone and nothing is queued.
    Closed,
}

/// A queue of at most `capacity` items (at least 1).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
            reader_waits: false,
            writer_waits: false,
        }),
        readable: Condvar::new(),
        writable: Condvar::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item`, waiting up to `timeout` while the queue is full.
    pub fn send_timeout(&self, item: T, timeout: Duration) -> Result<(), SendError<T>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.closed {
                return Err(SendError::Closed(item));
            }
            if state.items.len() < self.shared.capacity {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SendError::Full(item));
            }
            state.writer_waits = true;
            state = self
                .shared
                .writable
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.writer_waits = false;
        }
        state.items.push_back(item);
        let wake = state.reader_waits;
        drop(state);
        if wake {
            self.shared.readable.notify_one();
        }
        Ok(())
    }

    /// Queues `item`, waiting while the queue is full; gives it back when the receiver is
    /// gone.
    pub fn send(&self, mut item: T) -> Result<(), T> {
        loop {
            match self.send_timeout(item, Duration::from_secs(3600)) {
                Ok(()) => return Ok(()),
                Err(SendError::Full(back)) => item = back,
                Err(SendError::Closed(back)) => return Err(back),
            }
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T> Receiver<T> {
    /// Moves everything queued to the back of `into`, waiting up to `timeout` for at least
    /// one item.
    pub fn recv_all(&self, into: &mut VecDeque<T>, timeout: Duration) -> Result<(), RecvError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if !state.items.is_empty() {
                break;
            }
            if state.closed {
                return Err(RecvError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            state.reader_waits = true;
            state = self
                .shared
                .readable
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.reader_waits = false;
        }
        if into.is_empty() {
            std::mem::swap(into, &mut state.items);
        } else {
            into.append(&mut state.items);
        }
        let wake = state.writer_waits;
        drop(state);
        if wake {
            self.shared.writable.notify_one();
        }
        Ok(())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_across_threads_with_a_full_queue_waiting() {
        let (tx, rx) = bounded::<u32>(4);
        let writer = std::thread::spawn(move || {
            for i in 0..10_000 {
                tx.send(i).unwrap();
            }
        });
        let mut got = Vec::new();
        let mut buf = VecDeque::new();
        loop {
            match rx.recv_all(&mut buf, Duration::from_secs(10)) {
                Ok(()) => {
                    assert!(buf.len() <= 4, "at most the capacity at once");
                    got.extend(buf.drain(..));
                }
                Err(RecvError::Closed) => break,
                Err(RecvError::Timeout) => panic!("stalled at {}", got.len()),
            }
        }
        writer.join().unwrap();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn timeouts_and_closing_give_the_item_back() {
        let (tx, rx) = bounded::<u32>(1);
        tx.send_timeout(1, Duration::ZERO).unwrap();
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(5)),
            Err(SendError::Full(2))
        );
        let mut buf = VecDeque::new();
        rx.recv_all(&mut buf, Duration::ZERO).unwrap();
        assert_eq!(buf, [1]);
        assert_eq!(
            rx.recv_all(&mut buf, Duration::from_millis(5)),
            Err(RecvError::Timeout)
        );
        tx.send(3).unwrap();
        drop(tx);
        // What was queued before the sender left still arrives, then the queue is closed.
        rx.recv_all(&mut buf, Duration::ZERO).unwrap();
        assert_eq!(buf, [1, 3]);
        assert_eq!(
            rx.recv_all(&mut buf, Duration::ZERO),
            Err(RecvError::Closed)
        );
        let (tx, rx) = bounded::<u32>(1);
        drop(rx);
        assert_eq!(tx.send(5), Err(5));
    }
}
