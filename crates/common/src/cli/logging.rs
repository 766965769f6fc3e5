//! Log lines on stderr: the format (ripgrep's way: a bare message at the default verbosity, the
//! tool's name before a warning or an error) and the default filter.

use std::fmt;
use std::io;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::cli::flags::OutputArgs;

/// Log lines on stderr. At the default verbosity an info line is the bare message, and a
/// warning or error says so after the tool's name, as ripgrep's messages do
/// (`prune-amis: warning: ...`); with -v every line names its level, with -vv its source.
struct Lines {
    tool: &'static str,
    verbose: u8,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        match *meta.level() {
            Level::ERROR => write!(writer, "{}: error: ", self.tool)?,
            Level::WARN => write!(writer, "{}: warning: ", self.tool)?,
            level if self.verbose > 0 => write!(writer, "{level:>5} ")?,
            _ => {}
        }
        if self.verbose > 1 {
            write!(writer, "{}: ", meta.target())?;
        }
        // Work in one of several Regions (regions::each) names its Region first.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root().filter(|s| s.name() == "region") {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    write!(writer, "{}: ", fields.fields.trim_start_matches("region="))?;
                }
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The default log filter: warnings from everything, and this tool's and `common`'s own lines
/// at the verbosity asked for.
fn default_filter(tool: &str, verbose: u8, quiet: bool) -> String {
    // "deploy-tools targets" logs as the deploy_tools crate.
    let own = tool.split(' ').next().unwrap_or(tool).replace('-', "_");
    let mut crates = vec![own.clone()];
    // deploy-tools runs the tools' libraries in its process: their lines are its own.
    if own == "deploy_tools" {
        crates.extend(
            ["latest_ami", "prune_amis", "delete_ami", "bump_launch_template", "instance_refresh", "verify_ami", "rollback"]
                .map(String::from),
        );
    }
    let at = |level: &str| crates.iter().map(|c| format!("{c}={level}")).collect::<Vec<_>>().join(",");
    match (quiet, verbose) {
        (true, _) => "error".into(),
        // aws-config warns of a refused AssumeRole, which the tool reports as its error.
        (false, 0) => format!("warn,aws_config::sts=error,common=info,{}", at("info")),
        (false, 1) => format!("warn,common=debug,{}", at("debug")),
        (false, _) => "debug,hyper=info,h2=info,rustls=info".into(),
    }
}

pub(crate) fn init_logging(tool: &'static str, out: &OutputArgs) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.is_empty() && !out.quiet => EnvFilter::new(s),
        _ => EnvFilter::new(default_filter(tool, out.verbose, out.quiet)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // Plain fields: a Region's span field prefixes lines as text, not styled.
        .with_ansi(false)
        .event_format(Lines { tool, verbose: out.verbose })
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_names_the_tool_itself() {
        assert_eq!(default_filter("prune-amis", 0, false), "warn,aws_config::sts=error,common=info,prune_amis=info");
        assert_eq!(default_filter("some-new-tool", 1, false), "warn,common=debug,some_new_tool=debug");
        assert_eq!(default_filter("x", 0, true), "error");
        assert!(default_filter("deploy-tools deploy", 0, false).ends_with(",deploy_tools=info,latest_ami=info,prune_amis=info,delete_ami=info,bump_launch_template=info,instance_refresh=info,verify_ami=info,rollback=info"));
    }
}
