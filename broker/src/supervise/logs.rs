//! nats-server's log lines ("[1234] [INF] message", optionally with a timestamp) re-emitted as
//! `tracing` events at the matching level, so they reach the journal with a priority.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

use super::last_words::LastWords;

/// nats-server's own log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl ServerLevel {
    fn from_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "TRC" => ServerLevel::Trace,
            "DBG" => ServerLevel::Debug,
            "INF" => ServerLevel::Info,
            "WRN" => ServerLevel::Warn,
            "ERR" => ServerLevel::Error,
            "FTL" => ServerLevel::Fatal,
            _ => return None,
        })
    }

    pub fn tag(self) -> &'static str {
        match self {
            ServerLevel::Trace => "TRC",
            ServerLevel::Debug => "DBG",
            ServerLevel::Info => "INF",
            ServerLevel::Warn => "WRN",
            ServerLevel::Error => "ERR",
            ServerLevel::Fatal => "FTL",
        }
    }
}

/// One parsed line; `level` is None for lines outside the log format (a Go panic, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub level: Option<ServerLevel>,
    pub message: &'a str,
}

/// Parses `[pid] [date time] [LVL] message`; the pid and timestamp are dropped (the journal has both).
pub fn parse(line: &str) -> LogLine<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut rest = line;
    if let Some(after) = rest.strip_prefix('[') {
        if let Some((pid, tail)) = after.split_once("] ") {
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                rest = tail;
            }
        }
    }
    // With logtime on, "2026/11/25 11:52:03.056462 " comes before the level.
    if let Some(pos) = rest.find(" [") {
        let stamp = &rest[..pos];
        if !stamp.is_empty()
            && stamp
                .bytes()
                .all(|b| b.is_ascii_digit() || b"/:. ".contains(&b))
        {
            rest = &rest[pos + 1..];
        }
    }
    if let Some(after) = rest.strip_prefix('[') {
        if let Some((tag, message)) = after.split_once(']') {
            if let Some(level) = ServerLevel::from_tag(tag) {
                return LogLine {
                    level: Some(level),
                    message: message.strip_prefix(' ').unwrap_or(message),
                };
            }
        }
    }
    LogLine {
        level: None,
        message: line,
    }
}

/// Re-emits one line of nats-server output under the `nats_server` target.
pub fn emit(server: &str, line: &LogLine<'_>) {
    let original = line.level.map_or("", ServerLevel::tag);
    let message = line.message;
    match line.level {
        Some(ServerLevel::Trace) => {
            tracing::trace!(target: "nats_server", server, nats_level = original, "{message}")
        }
        Some(ServerLevel::Debug) => {
            tracing::debug!(target: "nats_server", server, nats_level = original, "{message}")
        }
        Some(ServerLevel::Info) => {
            tracing::info!(target: "nats_server", server, nats_level = original, "{message}")
        }
        // Unformatted output is unexpected (a panic, a Go runtime message): worth a look.
        Some(ServerLevel::Warn) | None => {
            tracing::warn!(target: "nats_server", server, nats_level = original, "{message}")
        }
        Some(ServerLevel::Error) | Some(ServerLevel::Fatal) => {
            tracing::error!(target: "nats_server", server, nats_level = original, "{message}")
        }
    }
}

/// Re-emits nats-server's standard error and output, each from a task of its own that ends, when
/// its stream closes, with what the lines said about the store.
pub fn forward_output(
    child: &mut tokio::process::Child,
    server: &str,
) -> Vec<JoinHandle<LastWords>> {
    let mut tasks = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        tasks.push(forward_lines(stderr, server.to_owned()));
    }
    if let Some(stdout) = child.stdout.take() {
        tasks.push(forward_lines(stdout, server.to_owned()));
    }
    tasks
}

/// Re-emits every line of one of nats-server's output streams until it closes.
fn forward_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    server: String,
) -> JoinHandle<LastWords> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        let mut words = LastWords::default();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let raw = String::from_utf8_lossy(&buf);
                    let line = parse(&raw);
                    words.note(line.message);
                    emit(&server, &line);
                }
            }
        }
        words
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_pids_are_read() {
        let line = parse("[7423] [INF] Starting nats-server\n");
        assert_eq!(line.level, Some(ServerLevel::Info));
        assert_eq!(line.message, "Starting nats-server");
        let line = parse("[7423] [ERR] Error trying to connect to route (attempt 1): dial tcp");
        assert_eq!(line.level, Some(ServerLevel::Error));
        assert_eq!(parse("[1] [FTL] boom").level, Some(ServerLevel::Fatal));
        assert_eq!(parse("[1] [TRC] x").level, Some(ServerLevel::Trace));
        assert_eq!(parse("[1] [DBG] x").level, Some(ServerLevel::Debug));
        assert_eq!(parse("[1] [WRN] x").level, Some(ServerLevel::Warn));
    }

    #[test]
    fn timestamps_are_dropped() {
        let line = parse("[8734] 2026/11/25 11:52:03.056462 [INF] Server is ready");
        assert_eq!(line.level, Some(ServerLevel::Info));
        assert_eq!(line.message, "Server is ready");
    }

    #[test]
    fn message_brackets_and_blank_messages_survive() {
        let line = parse("[7423] [INF] 127.0.0.1:58820 - rid:14 - [x] closed");
        assert_eq!(line.message, "127.0.0.1:58820 - rid:14 - [x] closed");
        assert_eq!(parse("[7423] [INF] ").message, "");
    }

    #[test]
    fn other_lines_pass_through_whole() {
        let line = parse("panic: runtime error: index out of range [3]");
        assert_eq!(line.level, None);
        assert_eq!(line.message, "panic: runtime error: index out of range [3]");
        assert_eq!(parse("goroutine 1 [running]:").level, None);
    }
}
