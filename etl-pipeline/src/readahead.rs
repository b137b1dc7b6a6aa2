//! Reading ahead on a thread of its own: the `read` system calls (the kernel's copy into user
//! memory) and whatever the reader does besides (decompression) run beside the normalizing
//! thread, which gets filled buffers.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Size of one buffer read ahead.
const CHUNK: usize = 1 << 20;
/// Buffers read ahead, besides the one being consumed.
const AHEAD: usize = 2;

/// A [`BufRead`] over buffers another thread fills from `inner`. Errors and panics of `inner`
/// come out as the error of the read that meets them; dropping it stops the thread.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Vec<u8>>>,
    /// Consumed buffers go back to be filled again.
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `inner` ahead; `Err(inner)` back if no thread could be started.
    pub fn new<R: Read + Send + 'static>(inner: R) -> Result<Self, R> {
        let (tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(AHEAD);
        let (spare, spares) = sync_channel::<Vec<u8>>(AHEAD + 1);
        let (ready_tx, ready) = sync_channel::<R>(1);
        let started = std::thread::Builder::new().name("etl-read".into()).spawn(move || {
            let Ok(mut inner) = ready.recv() else { return };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
                let mut buf = spares.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                buf.resize(CHUNK, 0);
                let (n, error) = fill(&mut inner, &mut buf);
                buf.truncate(n);
                // The bytes before an error first, then the error.
                if (n > 0 && tx.send(Ok(buf)).is_err()) || n == 0 && error.is_none() {
                    return;
                }
                if let Some(e) = error {
                    let _ = tx.send(Err(e));
                    return;
                }
            }));
            if let Err(panic) = outcome {
                let _ = tx.send(Err(io::Error::other(format!("panicked: {}", etl_core::error::panic_text(panic.as_ref())))));
            }
        });
        // The reader moves to the thread only once it runs, so it comes back if it cannot start.
        match started {
            Ok(_) => {
                ready_tx.send(inner).map_err(|e| e.0)?;
                Ok(ReadAhead { chunks, spare, current: Vec::new(), pos: 0, done: false })
            }
            Err(_) => Err(inner),
        }
    }
}

/// Reads until `buf` is full, the input ends or a read fails: the bytes read, and the error.
fn fill(inner: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match inner.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.current.len() && !self.done {
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    let _ = self.spare.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended: the input is exhausted.
                Err(_) => self.done = true,
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.current.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_everything_in_order_across_buffers() {
        let data: Vec<u8> = (0..3 * CHUNK + 12345).map(|i| (i % 251) as u8).collect();
        let mut r = ReadAhead::new(io::Cursor::new(data.clone())).ok().unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(r.fill_buf().unwrap(), b"");
    }

    #[test]
    fn lines_cross_buffers_and_errors_and_panics_arrive_after_the_data_before_them() {
        let text = "a\n".repeat(CHUNK);
        let mut r = ReadAhead::new(io::Cursor::new(format!("x{text}"))).ok().unwrap();
        let mut lines = 0;
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 0 {
            lines += 1;
            line.clear();
        }
        assert_eq!(lines, CHUNK);

        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1 => {
                        buf[..3].copy_from_slice(b"ok\n");
                        Ok(3)
                    }
                    2 => Err(io::Error::other("disk on fire")),
                    _ => panic!("read after an error"),
                }
            }
        }
        let mut r = ReadAhead::new(Failing(0)).ok().unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "ok\n");
        assert_eq!(r.read_line(&mut line).unwrap_err().to_string(), "disk on fire");

        struct Panicking;
        impl Read for Panicking {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("reader bug")
            }
        }
        let mut r = ReadAhead::new(Panicking).ok().unwrap();
        assert!(r.fill_buf().unwrap_err().to_string().contains("reader bug"));
    }
}
