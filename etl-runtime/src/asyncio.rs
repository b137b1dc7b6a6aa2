//! Async resources: `async fn` resources and `Stream`s, run on etl's own tokio runtime from the
//! (synchronous) thread that pulls rows. Pulling is on demand, so a fast stream never runs ahead
//! of the loader by more than the pipeline's bounded batches.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use futures_core::Stream;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etl-io")
            .enable_all()
            .build()
            .expect("etl's IO runtime starts")
    })
}

/// Runs a future to completion on etl's IO runtime (timers and sockets enabled). Called from
/// inside an async context, it runs on a helper thread instead of blocking the caller's runtime
/// in place.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| scope.spawn(|| runtime().block_on(future)).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    } else {
        runtime().block_on(future)
    }
}

/// The rows of a `Stream`, pulled one at a time: return `etl::stream_rows(my_stream)` from a
/// resource to load a stream (e.g. pages from an async client).
pub fn stream_rows<S>(stream: S) -> StreamRows<S>
where
    S: Stream + Send + 'static,
    S::Item: Send,
{
    StreamRows { stream: Box::pin(stream) }
}

/// An iterator over a stream's items (see [`stream_rows`]).
pub struct StreamRows<S> {
    stream: Pin<Box<S>>,
}

impl<S> Iterator for StreamRows<S>
where
    S: Stream + Send + 'static,
    S::Item: Send,
{
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        let stream = &mut self.stream;
        block_on(std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Countdown(u32);
    impl Stream for Countdown {
        type Item = u32;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<u32>> {
            let n = self.0;
            self.0 = n.saturating_sub(1);
            std::task::Poll::Ready((n > 0).then_some(n))
        }
    }

    #[test]
    fn futures_and_streams_run_from_sync_and_async_callers() {
        let slept = block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            7
        });
        assert_eq!(slept, 7);
        assert_eq!(stream_rows(Countdown(3)).collect::<Vec<_>>(), [3, 2, 1]);
        let inside = runtime().block_on(async { tokio::task::spawn_blocking(|| block_on(async { 1 })).await.unwrap() + block_on(async { 1 }) });
        assert_eq!(inside, 2);
    }
}
