//! Results on stdout, as text (what the scripts' users know) or as JSON (for scripts).

use std::io::{self, Write};

use serde::Serialize;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Plain lines, as the replaced scripts printed them.
    #[default]
    Text,
    /// One JSON document with a stable, documented shape.
    Json,
}

/// What a tool hands back from `run`: written once, to stdout, in the format asked for.
pub trait Report: Serialize {
    /// The text form: what the replaced script's users saw on stdout.
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()>;

    /// `Some(reason)` when the operation did not achieve its goal (a refresh that failed, a
    /// prune that could not delete everything): the report is still printed, then the reason
    /// goes to stderr and the exit status is 1.
    fn failure(&self) -> Option<String> {
        None
    }

    /// The exit status that goes with [`Report::failure`]: failed unless the tool says
    /// otherwise (interrupted, for a wait a signal ended).
    fn failure_status(&self) -> crate::Status {
        crate::Status::Failed
    }
}

/// Writes the report to `out`. A closed pipe (`latest-ami | head -c0`) is not an error.
pub fn write_report<R: Report>(report: &R, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    let result = match format {
        OutputFormat::Text => report.write_text(out),
        OutputFormat::Json => {
            // Rendered first, so a reader that goes away shows as the write's BrokenPipe.
            let mut text = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
            text.push(b'\n');
            out.write_all(&text)
        }
    }
    .and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
