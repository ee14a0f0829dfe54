//! A function process's stdout and stderr: each pipe is read on a plain thread of its own (not a
//! runtime thread, so its blocking reads stall nothing), and every line becomes a log event of
//! target `function` tagged with the function, the instance and the request that instance is
//! running. The last lines of stderr are kept for the error reported when the process fails to
//! start or exits.
//!
//! The running request id is shared with the host thread through a mutex per instance: it is
//! written twice per invocation by the host thread and read once per line here, never on a
//! worker's request path. scfgate's own runtimes tag their lines themselves ([`TAGGED`]).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest line logged as one event; a longer one is logged in pieces of this size, so a
/// function that writes without newlines cannot grow the gateway's memory.
const MAX_LINE_BYTES: usize = 16 * 1024;
/// How much of stderr an error report quotes: the last lines, at most this many...
const TAIL_LINES: usize = 20;
/// ... and at most this many bytes together.
const TAIL_BYTES: usize = 4 * 1024;

/// The request id an instance is running, if any (set by the host thread, read by the pumps).
#[derive(Clone, Default)]
pub struct RunningRequest(Arc<Mutex<Option<String>>>);

impl RunningRequest {
    pub fn set(&self, request_id: &str) {
        *lock(&self.0) = Some(request_id.to_owned());
    }

    pub fn clear(&self) {
        *lock(&self.0) = None;
    }

    fn get(&self) -> Option<String> {
        lock(&self.0).clone()
    }
}

/// The last lines a process wrote to stderr (at most [`TAIL_LINES`] lines and [`TAIL_BYTES`]).
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    /// The pipe reached its end: every line the process wrote is in.
    closed: bool,
}

impl StderrTail {
    fn push(&self, line: &str) {
        let lines = &mut lock(&self.0).lines;
        lines.push_back(line.chars().take(TAIL_BYTES).collect());
        while lines.len() > TAIL_LINES || (lines.len() > 1 && lines.iter().map(String::len).sum::<usize>() > TAIL_BYTES)
        {
            lines.pop_front();
        }
    }

    fn close(&self) {
        lock(&self.0).closed = true;
    }

    /// Whether stderr was read to its end (the process, and any it started, closed it).
    pub fn closed(&self) -> bool {
        lock(&self.0).closed
    }

    /// The kept lines, joined by newlines (empty when the process wrote nothing to stderr).
    pub fn text(&self) -> String {
        lock(&self.0).lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// Who is writing: the fields every line of one instance is logged with.
pub struct OutputTags {
    /// `namespace/name:qualifier`.
    pub function: Arc<str>,
    pub instance: usize,
    pub running_request: RunningRequest,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Starts the pumps for a freshly spawned process's pipes; they end when the pipes close (the
/// process group is gone).
pub fn pump(
    stdout: impl Read + Send + 'static,
    stderr: impl Read + Send + 'static,
    tags: &Arc<OutputTags>,
    tail: &StderrTail,
) {
    for (stream, reader) in
        [(Stream::Stdout, Box::new(stdout) as Box<dyn Read + Send>), (Stream::Stderr, Box::new(stderr))]
    {
        let tags = tags.clone();
        let tail = matches!(stream, Stream::Stderr).then(|| tail.clone());
        let started = std::thread::Builder::new()
            .name("scfgate-fn-output".into())
            .spawn(move || read_lines(reader, stream, &tags, tail.as_ref()));
        if let Err(error) = started {
            // The pipe's read end is dropped with the closure: the function then gets EPIPE on
            // writing, which is better than blocking forever on a full pipe.
            tracing::error!(%error, "cannot start a thread to read a function's output");
        }
    }
}

fn read_lines(reader: Box<dyn Read + Send>, stream: Stream, tags: &OutputTags, tail: Option<&StderrTail>) {
    let mut reader = BufReader::with_capacity(8 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(bytes) => bytes,
        };
        let room = MAX_LINE_BYTES - line.len();
        let (taken, complete) = match memchr::memchr(b'\n', &available[..available.len().min(room)]) {
            Some(end) => (end + 1, true),
            None => {
                let taken = available.len().min(room);
                (taken, line.len() + taken == MAX_LINE_BYTES)
            }
        };
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        if complete {
            emit(&line, stream, tags, tail);
            line.clear();
        }
    }
    if !line.is_empty() {
        emit(&line, stream, tags, tail);
    }
    if let Some(tail) = tail {
        tail.close();
    }
}

/// Marks a line scfgate's own runtimes (`super::standard`) tagged with its request id themselves:
/// `\x1f<request id>\x1f<text>`. They answer and take their next event in one exchange, so a
/// line printed during an invocation may be read here after the next one began; the runtime,
/// which knows, tags it.
const TAGGED: u8 = 0x1f;

/// `(request id, text)` of a line a runtime tagged (see [`TAGGED`]).
fn tagged(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = raw.strip_prefix(&[TAGGED])?;
    let end = rest.iter().position(|&byte| byte == TAGGED)?;
    let id = &rest[..end];
    // A request id is short and printable; anything else is the function's own text.
    (id.len() <= 64 && id.iter().all(|byte| byte.is_ascii_graphic())).then(|| (id, &rest[end + 1..]))
}

fn emit(raw: &[u8], stream: Stream, tags: &OutputTags, tail: Option<&StderrTail>) {
    let (tagged_id, raw) = match tagged(raw) {
        Some((id, text)) => (Some(String::from_utf8_lossy(id).into_owned()), text),
        None => (None, raw),
    };
    let text = printable(raw);
    if let Some(tail) = tail {
        tail.push(&text);
    }
    let request_id = tagged_id.or_else(|| tags.running_request.get());
    // Displayed (unquoted) like the other fields; absent between invocations.
    let request_id = request_id.as_deref().map(tracing::field::display);
    match stream {
        Stream::Stdout => {
            tracing::info!(target: "function", function = %tags.function, instance = tags.instance, request_id, "{text}")
        }
        Stream::Stderr => {
            tracing::warn!(target: "function", function = %tags.function, instance = tags.instance, request_id, "{text}")
        }
    }
}

/// The line without its line ending, lossily decoded, with control characters escaped: a
/// function must not be able to forge log lines (`\r`, `\n`) or drive the terminal (escapes).
fn printable(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_tagged_by_a_runtime_carry_their_request_id() {
        // (raw line, tagged (id, text))
        type Case<'a> = (&'a [u8], Option<(&'a [u8], &'a [u8])>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (b"\x1fabc-123\x1fhello\n", Some((b"abc-123", b"hello\n"))),
            (b"\x1fabc\x1f", Some((b"abc", b""))),
            (b"hello", None),
            (b"\x1fno end", None),
            (b"\x1fwith space\x1fx", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(tagged(raw), *expected, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn printable_strips_the_line_end_and_escapes_control_characters() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &str)] = &[
            (b"plain line\n", "plain line"),
            (b"windows line\r\n", "windows line"),
            (b"no newline at the end", "no newline at the end"),
            (b"tab\tkept\n", "tab\tkept"),
            (b"forged\rWARN other\n", "forged\\rWARN other"),
            (b"\x1b[31mred\x1b[0m\n", "\\u{1b}[31mred\\u{1b}[0m"),
            (b"bad utf-8 \xff\n", "bad utf-8 \u{fffd}"),
        ];
        for (raw, expected) in cases {
            assert_eq!(printable(raw), *expected, "{raw:?}");
        }
    }

    #[test]
    fn the_stderr_tail_keeps_the_last_lines_within_its_bounds() {
        let tail = StderrTail::default();
        for n in 0..50 {
            tail.push(&format!("line {n}"));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), TAIL_LINES);
        assert!(text.starts_with("line 30\n") && text.ends_with("line 49"), "{text}");

        // Long lines: the byte bound wins, and the newest line is always kept.
        for n in 0..4 {
            tail.push(&format!("{n}{}", "x".repeat(3000)));
        }
        let text = tail.text();
        assert_eq!(text.lines().count(), 1, "{} bytes", text.len());
        assert!(text.starts_with('3'));
        tail.push(&"y".repeat(10_000));
        assert_eq!(tail.text().len(), TAIL_BYTES);
    }

    #[test]
    fn long_lines_are_cut_into_bounded_pieces() {
        let tags = OutputTags { function: "ns/f:1".into(), instance: 0, running_request: RunningRequest::default() };
        let tail = StderrTail::default();
        let input = format!("{}\nshort\n{}", "a".repeat(MAX_LINE_BYTES + 10), "b".repeat(5));
        read_lines(Box::new(std::io::Cursor::new(input.into_bytes())), Stream::Stderr, &tags, Some(&tail));
        let text = tail.text();
        let lines: Vec<&str> = text.lines().collect();
        // Pieces arrive in order; the first (16 KiB) was pushed out of the tail by its byte bound.
        assert_eq!(lines.len(), 3, "{:?}", lines.iter().map(|line| line.len()).collect::<Vec<_>>());
        assert_eq!(lines[0], "a".repeat(10));
        assert_eq!(&lines[1..], ["short", "bbbbb"]);
        assert!(tail.closed(), "the end of the stream is recorded");
    }

    #[test]
    fn the_running_request_is_set_and_cleared() {
        let running = RunningRequest::default();
        assert_eq!(running.get(), None);
        running.set("abc");
        running.set("de");
        assert_eq!(running.get().as_deref(), Some("de"));
        running.clear();
        assert_eq!(running.get(), None);
    }
}
