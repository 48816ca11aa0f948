//! Log lines appended to one shared buffer and written out by a thread of their own, a
//! buffer at a time.
//!
//! A line costs the request that logs it a short lock and a copy: no allocation, and no
//! wake-up of the writer thread. A writer woken per line (as a channel to a blocking
//! receiver does) costs every request a futex wake, a context switch and a `write`, which
//! under a flood of 429s (one access line each) is a good part of the answer's CPU. The
//! first line into an empty buffer wakes the thread, which then waits [`FLUSH_INTERVAL`]
//! (or until the buffer passes [`EARLY_FLUSH_BYTES`]) for more to join it: one wake-up per
//! interval under load, none while nothing is logged. Past [`MAX_BUFFER_BYTES`] new lines
//! are dropped and counted rather than stall requests.

use std::{
    io::{self, Write},
    mem,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long a line waits at most before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Buffered bytes that wake the writer before its timer: 20 ms of a 429 flood's lines.
pub const EARLY_FLUSH_BYTES: usize = 64 * 1024;
/// Buffered bytes past which lines are dropped (the writer has fallen far behind).
pub const MAX_BUFFER_BYTES: usize = 1024 * 1024;

/// Appends formatted lines to the shared buffer; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Owns the writer thread: [`LogWriterGuard::shutdown`] (or dropping it) writes out what
/// is buffered and stops the thread.
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    stopping: bool,
}

impl LogWriter {
    /// Starts the writer thread, writing to `sink` every `interval` at most.
    pub fn spawn<W: Write + Send + 'static>(
        sink: W,
        interval: Duration,
    ) -> io::Result<(Self, LogWriterGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
        });
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = shared.clone();
                move || write_out(&shared, sink, interval)
            })?;
        let guard = LogWriterGuard {
            shared: shared.clone(),
            thread: Some(thread),
        };
        Ok((Self { shared }, guard))
    }
}

// By reference: the formatter asks for a writer per line, and a clone would cost an atomic
// increment and decrement each.
impl Write for &LogWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.lines.len() + line.len() > MAX_BUFFER_BYTES {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            // Reported as written: a log line must never fail the request that logged it.
            return Ok(line.len());
        }
        let before = state.lines.len();
        state.lines.extend_from_slice(line);
        let first = before == 0;
        let crossed = before < EARLY_FLUSH_BYTES && state.lines.len() >= EARLY_FLUSH_BYTES;
        drop(state);
        if first || crossed {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = &'a LogWriter;

    fn make_writer(&'a self) -> &'a LogWriter {
        self
    }
}

impl Shared {
    /// A poisoned lock only means a thread panicked mid-append; the bytes are still bytes.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn write_out<W: Write>(shared: &Shared, mut sink: W, interval: Duration) {
    // Swapped with the shared buffer, so appending never waits for a write.
    let mut spare = Vec::with_capacity(EARLY_FLUSH_BYTES);
    loop {
        let mut state = shared.lock();
        // Idle until a first line arrives: a timer here would wake the thread for nothing.
        while state.lines.is_empty() && !state.stopping {
            state = (shared.wake.wait(state)).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.lines.len() < EARLY_FLUSH_BYTES && !state.stopping {
            state = (shared.wake.wait_timeout(state, interval))
                .map_or_else(|poisoned| poisoned.into_inner().0, |(state, _)| state);
        }
        mem::swap(&mut state.lines, &mut spare);
        let stopping = state.stopping;
        drop(state);
        if !spare.is_empty() {
            // Nowhere is left to report a failing log sink; the next lines try again.
            let _ = sink.write_all(&spare).and_then(|()| sink.flush());
            spare.clear();
            // A burst's large buffer is not kept for the life of the process.
            spare.shrink_to(EARLY_FLUSH_BYTES);
        }
        if stopping {
            return;
        }
    }
}

impl LogWriterGuard {
    /// Lines dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes out the buffered lines, waits for the writer thread to end, and says how many
    /// lines were dropped in all.
    pub fn shutdown(mut self) -> u64 {
        self.stop();
        self.dropped()
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        let _ = thread.join();
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A sink that passes every write on to the test.
    struct Sink(mpsc::Sender<Vec<u8>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const NEVER: Duration = Duration::from_secs(3600);

    fn writer() -> (LogWriter, LogWriterGuard, mpsc::Receiver<Vec<u8>>) {
        let (sent, received) = mpsc::channel();
        let (writer, guard) = LogWriter::spawn(Sink(sent), NEVER).unwrap();
        (writer, guard, received)
    }

    #[test]
    fn shutdown_writes_every_buffered_line_in_order() {
        let (writer, guard, received) = writer();
        (&writer).write_all(b"first\n").unwrap();
        (&writer).write_all(b"second\n").unwrap();
        guard.shutdown();
        let written: Vec<u8> = received.try_iter().flatten().collect();
        assert_eq!(written, b"first\nsecond\n");
    }

    #[test]
    fn a_line_logged_while_idle_is_written_after_the_interval() {
        let (sent, received) = mpsc::channel();
        let (writer, _guard) = LogWriter::spawn(Sink(sent), Duration::from_millis(5)).unwrap();
        // The second line finds the writer idle again, its first share written.
        for line in [&b"first\n"[..], b"second\n"] {
            (&writer).write_all(line).unwrap();
            let written = received.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(written, line);
        }
    }

    #[test]
    fn a_buffer_past_the_early_flush_mark_is_written_without_waiting_for_the_timer() {
        let (writer, _guard, received) = writer();
        let line = [b'x'; 1024];
        for _ in 0..EARLY_FLUSH_BYTES / line.len() {
            (&writer).write_all(&line).unwrap();
        }
        let written = received.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(written.len(), EARLY_FLUSH_BYTES);
    }

    #[test]
    fn lines_beyond_the_cap_are_dropped_and_counted() {
        // A sink that says when a write starts and then blocks until the test lets it go:
        // the writer falls behind.
        struct Stuck {
            sink: Sink,
            entered: mpsc::Sender<()>,
            release: mpsc::Receiver<()>,
        }
        impl Write for Stuck {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let _ = self.entered.send(());
                let _ = self.release.recv_timeout(Duration::from_secs(10));
                self.sink.write(bytes)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (sent, received) = mpsc::channel();
        let (entered, writing) = mpsc::channel();
        let (release, held) = mpsc::channel::<()>();
        let stuck = Stuck {
            sink: Sink(sent),
            entered,
            release: held,
        };
        let (writer, guard) = LogWriter::spawn(stuck, NEVER).unwrap();
        let line = [b'y'; 1024];
        let early = EARLY_FLUSH_BYTES / line.len();
        for _ in 0..early {
            (&writer).write_all(&line).unwrap();
        }
        writing.recv_timeout(Duration::from_secs(10)).unwrap();
        // The writer is stuck on the first share: a full buffer more fits, then no more.
        let fit = MAX_BUFFER_BYTES / line.len();
        for _ in 0..fit + 8 {
            (&writer).write_all(&line).unwrap();
        }
        assert_eq!(guard.dropped(), 8);
        drop(release);
        guard.shutdown();
        let written: usize = received.try_iter().map(|bytes| bytes.len()).sum();
        assert_eq!(written, (early + fit) * line.len());
    }
}
