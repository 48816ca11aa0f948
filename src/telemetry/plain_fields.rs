//! Field formatting for human-readable lines without colour, as tracing-subscriber's default
//! writes them (`message name=value name=value`), for less work per line.
//!
//! The default visitor styles every name and `=` through `nu_ansi_term` even when colour is
//! off, and escapes the message a character at a time; with one access line and one request
//! span per request, that was about a tenth of a 429's instructions. The message is still
//! escaped here, a run of plain text at a time, so a logged value cannot drive a terminal.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::{MakeVisitor, VisitFmt, VisitOutput},
    fmt::format::Writer,
};

/// Makes a [`PlainVisitor`] per line (or span).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = self.write_field(field.name(), value);
    }

    fn write_field(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name == "message" {
            return Escaping(&mut self.writer).write_fmt(value);
        }
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        self.writer.write_fmt(value)
    }
}

impl PlainVisitor<'_> {
    /// `name=error name.sources=[cause, its cause]`, every part escaped.
    fn write_error(
        &mut self,
        name: &str,
        error: &(dyn std::error::Error + 'static),
    ) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        write!(self.writer, "{name}=")?;
        write!(Escaping(&mut self.writer), "{error}")?;
        let Some(mut source) = error.source() else {
            return Ok(());
        };
        write!(self.writer, " {name}.sources=[")?;
        loop {
            write!(Escaping(&mut self.writer), "{source}")?;
            match source.source() {
                Some(next) => {
                    self.writer.write_str(", ")?;
                    source = next;
                }
                None => return self.writer.write_char(']'),
            }
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, format_args!("{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.result = self.write_error(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Writes text with terminal control characters spelled out (`\x1b`), as the default
/// formatter does for messages.
struct Escaping<'w, W>(&'w mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, ch) in text.char_indices() {
            let spelled = match ch {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => "x",
                '\u{80}'..='\u{9f}' => "u",
                _ => continue,
            };
            self.0.write_str(&text[plain..at])?;
            if spelled == "x" {
                write!(self.0, "\\x{:02x}", u32::from(ch))?;
            } else {
                write!(self.0, "\\u{{{:x}}}", u32::from(ch))?;
            }
            plain = at + ch.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What `emit` logs, formatted with the given fields formatter and nothing else.
    fn logged<F>(fields: F, emit: fn()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner \x1b")]
    struct Inner;

    fn access_line() {
        let span = tracing::info_span!(
            "request",
            method = %"POST",
            path = %"/simulate-prompt",
            prompt_id = tracing::field::Empty,
        );
        let _entered = span.enter();
        span.record("prompt_id", "p-1");
        tracing::info!(
            status = 429_u16,
            latency_us = 12_u64,
            shift = -3_i64,
            ok = false,
            r#type = "a \"quoted\" text",
            "finished \x1b[31m processing \u{9b} request é"
        );
        tracing::warn!(
            error = &Outer(Inner) as &(dyn std::error::Error + 'static),
            "failed"
        );
    }

    #[test]
    fn lines_read_exactly_as_the_default_formatter_writes_them() {
        let plain = logged(PlainFields, access_line);
        assert_eq!(plain, logged(DefaultFields::new(), access_line));
        assert!(
            plain.contains("finished \\x1b[31m processing \\u{9b} request é status=429"),
            "{plain}"
        );
        assert!(
            plain.contains("error=outer error.sources=[inner \\x1b]"),
            "{plain}"
        );
    }
}
