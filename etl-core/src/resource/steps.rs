//! Resource steps (dlt's `add_map`, `add_filter`, `add_yield_map`, `add_limit`): functions
//! applied to a resource's items as they are pulled, in the order they were added, before the
//! incremental filter (as dlt orders them).
//!
//! Map, filter and yield-map see each item as a [`Value`] (dlt's dict), so a typed or JSON-lines
//! resource with one of them yields values, which the pipeline still writes through its fast
//! path when their shape is known. A limit keeps the resource's kind: typed items stay typed and
//! JSON lines are cut at the N-th line, so a limited resource loads at full speed. Unlike dlt's,
//! which counts yields (pages), a limit counts items (rows), and it counts them before the
//! incremental filter. On a transformer, steps apply to the transformer's own items.

use std::io::BufRead;
use std::time::{Duration, Instant};

use super::{BoxError, Items, JsonLines, Producer, Resource, ResourceContext, Transform, TypedItems};
use crate::value::Value;

/// How much of a resource to take (dlt's `add_limit(max_items, max_time)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// At most this many items (0: none).
    pub max_items: Option<usize>,
    /// Stop pulling once this long has passed since the resource started.
    pub max_time: Option<Duration>,
}

impl Limit {
    /// At most `n` items.
    pub fn items(n: usize) -> Self {
        Limit { max_items: Some(n), max_time: None }
    }

    /// At most `d` of pulling.
    pub fn time(d: Duration) -> Self {
        Limit { max_items: None, max_time: Some(d) }
    }

    /// Also at most `d` of pulling.
    pub fn max_time(mut self, d: Duration) -> Self {
        self.max_time = Some(d);
        self
    }
}

/// A limit as it runs: items taken and the clock.
struct Taking {
    limit: Limit,
    taken: usize,
    started: Instant,
}

impl Taking {
    fn new(limit: Limit) -> Self {
        Taking { limit, taken: 0, started: Instant::now() }
    }

    /// Whether one more item may be taken (and counts it).
    fn take(&mut self) -> bool {
        if self.limit.max_items.is_some_and(|n| self.taken >= n) || self.limit.max_time.is_some_and(|t| self.started.elapsed() >= t) {
            return false;
        }
        self.taken += 1;
        true
    }
}

fn limited<T: Send + 'static>(items: Box<dyn Iterator<Item = Result<T, BoxError>> + Send>, limit: Limit) -> Box<dyn Iterator<Item = Result<T, BoxError>> + Send> {
    let mut taking = Taking::new(limit);
    // An error stops the resource anyway; it is passed on whatever the count.
    Box::new(items.take_while(move |item| item.is_err() || taking.take()))
}

/// A JSON-lines reader that ends after the limit's N-th non-empty line (or its time). Lines
/// are counted as they are consumed, so calling `fill_buf` again (as readers do) or consuming
/// part of a buffer counts nothing twice.
struct LimitedLines {
    inner: JsonLines,
    limit: Limit,
    started: Instant,
    /// Non-empty lines consumed (or begun).
    taken: usize,
    /// The consumed text ends inside a line that has a non-blank byte.
    in_line: bool,
    done: bool,
}

/// Where a scan of `buf` stops: before the first byte of a non-empty line that `may_take`
/// refuses (`done`), else at its end; and the state after it.
struct Scan {
    end: usize,
    in_line: bool,
    taken: usize,
    done: bool,
}

fn scan(buf: &[u8], mut in_line: bool, mut taken: usize, may_take: impl Fn(usize) -> bool) -> Scan {
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            in_line = false;
        } else if !in_line && !b.is_ascii_whitespace() {
            if !may_take(taken) {
                return Scan { end: i, in_line, taken, done: true };
            }
            taken += 1;
            in_line = true;
        }
    }
    Scan { end: buf.len(), in_line, taken, done: false }
}

impl std::io::Read for LimitedLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for LimitedLines {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.done {
            return Ok(&[]);
        }
        let time_up = self.limit.max_time.is_some_and(|t| self.started.elapsed() >= t);
        let max = self.limit.max_items;
        let buf = self.inner.fill_buf()?;
        let s = scan(buf, self.in_line, self.taken, |taken| !time_up && max.is_none_or(|n| taken < n));
        if s.done && s.end == 0 {
            self.done = true;
        }
        Ok(&buf[..s.end])
    }

    fn consume(&mut self, amt: usize) {
        // The buffer `fill_buf` handed out is still there: count what is consumed of it.
        if let Ok(buf) = self.inner.fill_buf() {
            let s = scan(&buf[..amt.min(buf.len())], self.in_line, self.taken, |_| true);
            (self.in_line, self.taken) = (s.in_line, s.taken);
        }
        self.inner.consume(amt);
    }
}

/// A step's function, shared by the calls of a transformer (one per parent item).
type Shared<F> = std::sync::Arc<std::sync::Mutex<F>>;

fn shared<F>(f: F) -> Shared<F> {
    std::sync::Arc::new(std::sync::Mutex::new(f))
}

fn lock<F>(f: &Shared<F>) -> std::sync::MutexGuard<'_, F> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

impl Producer {
    /// The same producer, its items mapped by `f` (items become values).
    fn map_values(self, f: impl FnMut(Items) -> Items + Send + 'static) -> Producer {
        match self {
            Producer::Transform { parent, parent_name, mut transform } => {
                let mut step = f;
                let transform: Transform = Box::new(move |v: Value, cx: &ResourceContext| transform(v, cx).map(&mut step));
                Producer::Transform { parent, parent_name, transform }
            }
            other => {
                let mut step = f;
                Producer::Items(Box::new(move |cx: &ResourceContext| other.into_items(cx).map(&mut step)))
            }
        }
    }

    /// The same producer, limited, of the same kind.
    fn limited(self, limit: Limit) -> Producer {
        match self {
            Producer::Items(produce) => Producer::Items(Box::new(move |cx: &ResourceContext| produce(cx).map(|items| limited(items, limit)))),
            Producer::Typed(produce) => {
                Producer::Typed(Box::new(move |cx: &ResourceContext| produce(cx).map(|items: TypedItems| limited(items, limit))))
            }
            // A batch is one item (dlt counts yields).
            Producer::Arrow(produce) => Producer::Arrow(Box::new(move |cx: &ResourceContext| produce(cx).map(|b| limited(b, limit)))),
            Producer::JsonLines(open) => Producer::JsonLines(Box::new(move || {
                let inner = open()?;
                Ok(Box::new(LimitedLines { inner, limit, started: Instant::now(), taken: 0, in_line: false, done: false }) as JsonLines)
            })),
            Producer::Transform { parent, parent_name, mut transform } => {
                // The transformer's own items, over the whole run: one count shared by every call.
                let taking = std::sync::Arc::new(std::sync::Mutex::new(Taking::new(limit)));
                let transform: Transform = Box::new(move |v: Value, cx: &ResourceContext| {
                    let taking = taking.clone();
                    transform(v, cx).map(|items| -> Items {
                        Box::new(items.take_while(move |item| item.is_err() || taking.lock().unwrap_or_else(|e| e.into_inner()).take()))
                    })
                });
                Producer::Transform { parent, parent_name, transform }
            }
        }
    }
}

impl Resource {
    fn with_producer(mut self, change: impl FnOnce(Producer) -> Producer) -> Self {
        if let Some(p) = self.producer.take() {
            self.producer = Some(change(p));
        }
        let keep = self.is_json_lines();
        self.json_lines_file = self.json_lines_file.take().filter(|_| keep);
        self
    }

    /// Maps each item (dlt's `add_map`): `f` gets the item as a value and returns the item to
    /// load. Steps run in the order they are added, before the incremental filter.
    pub fn add_map(self, mut f: impl FnMut(Value) -> Value + Send + 'static) -> Self {
        self.add_try_map(move |v| Ok(f(v)))
    }

    /// Maps each item with a function that may fail: an error stops the resource (and its run),
    /// naming the step.
    pub fn add_try_map(self, f: impl FnMut(Value) -> Result<Value, BoxError> + Send + 'static) -> Self {
        let name = self.hints.name.clone();
        let f = shared(f);
        self.with_producer(move |p| {
            p.map_values(move |items: Items| -> Items {
                let (f, name) = (f.clone(), name.clone());
                Box::new(items.map(move |item| {
                    item.and_then(|v| (&mut *lock(&f))(v).map_err(|e| -> BoxError { format!("resource `{name}`: add_map: {e}").into() }))
                }))
            })
        })
    }

    /// Keeps the items for which `f` is true (dlt's `add_filter`).
    pub fn add_filter(self, f: impl FnMut(&Value) -> bool + Send + 'static) -> Self {
        let f = shared(f);
        self.with_producer(move |p| {
            p.map_values(move |items: Items| -> Items {
                let f = f.clone();
                Box::new(items.filter(move |item| item.as_ref().map_or(true, |v| (&mut *lock(&f))(v))))
            })
        })
    }

    /// Makes 0, 1 or more items of each item (dlt's `add_yield_map`).
    pub fn add_yield_map<I>(self, f: impl FnMut(Value) -> I + Send + 'static) -> Self
    where
        I: IntoIterator<Item = Value>,
        I::IntoIter: Send + 'static,
    {
        let f = shared(f);
        self.with_producer(move |p| {
            p.map_values(move |items: Items| -> Items {
                let f = f.clone();
                Box::new(items.flat_map(move |item| -> Box<dyn Iterator<Item = Result<Value, BoxError>> + Send> {
                    match item {
                        Ok(v) => Box::new((&mut *lock(&f))(v).into_iter().map(Ok)),
                        Err(e) => Box::new(std::iter::once(Err(e))),
                    }
                }))
            })
        })
    }

    /// Takes at most `max_items` items (dlt's `add_limit(max_items)`); the producer is dropped
    /// once they are taken, so it pulls no more. A limited typed or JSON-lines resource keeps
    /// its fast path.
    pub fn add_limit(self, max_items: usize) -> Self {
        self.add_limit_with(Limit::items(max_items))
    }

    /// Takes items until the limit's count or time is reached (dlt's `add_limit(max_items,
    /// max_time)`; the time is checked as each item arrives).
    pub fn add_limit_with(self, limit: Limit) -> Self {
        self.with_producer(move |p| p.limited(limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hints::ResourceHints;
    use serde_json::json;

    fn values(r: &mut Resource) -> Vec<serde_json::Value> {
        r.take_items().unwrap().map(|v| v.unwrap().to_json()).collect()
    }

    fn numbers() -> Resource {
        Resource::from_data("n", (1..=10).map(|i| json!({"n": i})))
    }

    #[test]
    fn steps_run_in_the_order_they_were_added() {
        let mut r = numbers()
            .add_filter(|v| v.get("n").and_then(Value::as_i64).is_some_and(|n| n % 2 == 0))
            .add_map(|v| Value::from(json!({"double": v.get("n").and_then(Value::as_i64).unwrap_or(0) * 2})))
            .add_yield_map(|v| vec![v.clone(), v])
            .add_limit(5);
        assert_eq!(values(&mut r), vec![json!({"double": 4}), json!({"double": 4}), json!({"double": 8}), json!({"double": 8}), json!({"double": 12})]);
    }

    #[test]
    fn a_limit_keeps_typed_and_json_lines_resources_on_their_fast_path() {
        let mut typed = numbers().add_limit(3);
        assert!(typed.is_typed());
        let items: Vec<_> = typed.take_typed_items_with(&ResourceContext::default()).unwrap().unwrap().collect();
        assert_eq!(items.len(), 3);
        let text = "{\"a\":1}\n\n  \n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n";
        let mut lines = Resource::from_json_lines(ResourceHints::new("l"), move || Ok(std::io::Cursor::new(text.as_bytes().to_vec()))).add_limit(2);
        assert!(lines.is_json_lines());
        let mut read = String::new();
        std::io::Read::read_to_string(&mut lines.take_json_lines().unwrap().unwrap(), &mut read).unwrap();
        assert_eq!(read, "{\"a\":1}\n\n  \n{\"a\":2}\n", "two non-empty lines, cut before the third");
        let mut none = numbers().add_limit(0);
        assert!(values(&mut none).is_empty());
    }

    #[test]
    fn a_limited_reader_counts_each_line_once_however_it_is_read() {
        use std::io::{BufRead as _, Read as _};
        let text: String = (0..80).map(|i| format!("{{\"i\": {i}}}\n")).collect();
        let open = |cap: usize| {
            let text = text.clone();
            Resource::from_json_lines(ResourceHints::new("l"), move || Ok(std::io::BufReader::with_capacity(cap, std::io::Cursor::new(text.into_bytes())))).add_limit(10)
        };
        // Small reads, buffers that end mid-line, fill_buf asked twice before a consume.
        for cap in [7, 32, 1 << 16] {
            let mut reader = open(cap).take_json_lines().unwrap().unwrap();
            let mut small = [0u8; 5];
            let mut out = Vec::new();
            loop {
                let _ = reader.fill_buf().unwrap();
                let n = reader.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&small[..n]);
            }
            let lines = String::from_utf8(out).unwrap();
            assert_eq!(lines.lines().filter(|l| !l.trim().is_empty()).count(), 10, "buffer {cap}: {lines:?}");
        }
    }

    #[test]
    fn a_time_limit_stops_pulling() {
        let slow = Resource::new(ResourceHints::new("slow"), || {
            Ok(Box::new((0..).map(|i| {
                std::thread::sleep(Duration::from_millis(5));
                Ok(Value::from(json!({"i": i})))
            })) as Items)
        });
        let mut r = slow.add_limit_with(Limit::time(Duration::from_millis(60)));
        let n = values(&mut r).len();
        assert!((1..=30).contains(&n), "{n}");
    }

    #[test]
    fn a_failing_map_stops_the_resource_naming_it() {
        let mut r = numbers().add_try_map(|v| if v.get("n").and_then(Value::as_i64) == Some(3) { Err("three".into()) } else { Ok(v) });
        let items: Vec<_> = r.take_items().unwrap().collect();
        let err = items.iter().find_map(|i| i.as_ref().err()).unwrap().to_string();
        assert_eq!(err, "resource `n`: add_map: three");
    }

    #[test]
    fn steps_on_a_transformer_apply_to_its_own_items() {
        let parent = numbers();
        let t = Resource::transformer(ResourceHints::new("t"), parent, |v, _| {
            let n = v.get("n").and_then(Value::as_i64).unwrap_or(0);
            Ok(Box::new((0..n).map(move |i| Ok(Value::from(json!({"n": n, "i": i}))))) as Items)
        });
        let mut t = t.add_filter(|v| v.get("i").and_then(Value::as_i64) == Some(0)).add_limit(4);
        let got: Vec<i64> = values(&mut t).iter().map(|v| v["n"].as_i64().unwrap()).collect();
        assert_eq!(got, [1, 2, 3, 4]);
    }
}
