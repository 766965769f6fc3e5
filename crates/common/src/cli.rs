//! The flag groups tools flatten as they need them, and the one `main` they all share: parse,
//! set up logging, load config, run, print the report, map the outcome to a [`Status`].

use std::fmt;
use std::future::Future;
use std::io;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::aws::Context;
use crate::error::{one_line, render};
use crate::output::{write_report, OutputFormat, Report};
use crate::status::Status;

/// How to reach AWS. Without these flags the standard chain decides.
#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS Region to use (default: the standard chain: AWS_REGION, then the profile).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Named profile from ~/.aws/config to use (default: AWS_PROFILE, then "default").
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Send requests to this endpoint instead of AWS's (AWS_ENDPOINT_URL works too).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Allow a plain-http endpoint that is not on loopback (credentials cross the network unencrypted).
    #[arg(long)]
    pub allow_insecure_endpoint: bool,

    /// Give up on one attempt of an AWS call after this many seconds (the SDK then retries).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 30.0, value_parser = positive_secs)]
    pub attempt_timeout: f64,

    /// Give up on an AWS call, retries included, after this many seconds.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, default_value_t = 120.0, value_parser = positive_secs)]
    pub operation_timeout: f64,
}

/// What goes to stdout and stderr.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Result format on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail on stderr: -v shows each AWS call, -vv the SDK's own logs. RUST_LOG overrides.
    #[arg(long, short = 'v', action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Pacing of mutating calls, for the tools that make them in numbers.
#[derive(Args, Debug, Clone, Default)]
pub struct PaceArgs {
    /// Pace mutating calls to at most this many per second per action (default: EC2's own
    /// request-rate buckets, e.g. 5 per second after a burst of 100 for DeregisterImage).
    #[arg(long, value_name = "PER_SEC", allow_negative_numbers = true, value_parser = positive_rate)]
    pub rate: Option<f64>,
}

/// Completions and man pages, generated from the same definitions as the parser.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,
}

/// The groups every tool takes, each under its own heading in --help.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    #[command(flatten, next_help_heading = "AWS connection")]
    pub aws: AwsArgs,

    #[command(flatten, next_help_heading = "Output")]
    pub out: OutputArgs,

    #[command(flatten, next_help_heading = "Shell integration")]
    pub generate: GenerateArgs,
}

/// Parses a number of seconds that must be positive and finite.
pub fn positive_secs(s: &str) -> Result<f64, String> {
    positive(s).ok_or_else(|| format!("expected a positive number of seconds, got {s:?}"))
}

/// Parses a rate that must be positive and finite.
pub fn positive_rate(s: &str) -> Result<f64, String> {
    positive(s).ok_or_else(|| format!("expected a positive number of calls per second, got {s:?}"))
}

fn positive(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0)
}

/// One deploy tool: its arguments, and the operation they drive.
pub trait Tool: Parser {
    /// The binary's name, used as the prefix of error lines.
    const NAME: &'static str;
    type Report: Report;

    fn global(&self) -> &GlobalArgs;

    /// `--rate`, for the tools that pace their mutating calls.
    fn rate(&self) -> Option<f64> {
        None
    }

    /// The Region to use when neither --region nor the standard chain names one (asked after
    /// [`Tool::validate`]).
    fn fallback_region(&self) -> Option<String> {
        None
    }

    /// Checks the arguments before anything else happens (no config, no request).
    fn validate(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn run(self, ctx: Context) -> impl Future<Output = anyhow::Result<Self::Report>>;
}

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
    match (quiet, verbose) {
        (true, _) => "error".into(),
        (false, 0) => format!("warn,common=info,{own}=info"),
        (false, 1) => format!("warn,common=debug,{own}=debug"),
        (false, _) => "debug,hyper=info,h2=info,rustls=info".into(),
    }
}

fn init_logging(tool: &'static str, out: &OutputArgs) {
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

/// A clap error as one line, `<tool>: message`, with the usage status; --help and --version
/// print as clap prints them and exit 0.
fn parse_error(tool: &str, e: clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
        && !e.use_stderr()
    {
        let _ = e.print();
        return Status::Done.into();
    }
    // clap's message up to its usage and tips, on one line.
    let text = e.render().to_string();
    let message = text.split("\n\n").next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    eprintln!("{tool}: {} (see --help)", one_line(message));
    Status::Usage.into()
}

/// The whole life of a tool's process. `main.rs` is `common::cli::main::<Args>()`.
pub fn main<T: Tool>() -> ExitCode {
    main_with::<T>(std::env::args_os().collect())
}

/// [`main`] over these arguments (the first is the program's name): the multi-call binary
/// hands each tool its own.
pub fn main_with<T: Tool>(args: Vec<std::ffi::OsString>) -> ExitCode {
    let matches = match T::command().version(crate::VERSION).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return parse_error(T::NAME, e),
    };
    // --completions and --man stand alone (clap's `exclusive`), so the tool's required
    // arguments are not asked for; answer them before building the tool's arguments.
    let mut generated = Vec::new();
    if let Some(shell) = matches.get_one::<clap_complete::Shell>("completions") {
        clap_complete::generate(*shell, &mut T::command().version(crate::VERSION), T::NAME, &mut generated);
    } else if matches.get_flag("man") {
        // Rendering into memory cannot fail.
        let _ = clap_mangen::Man::new(T::command().version(crate::VERSION)).render(&mut generated);
    }
    if !generated.is_empty() {
        return match io::Write::write_all(&mut io::stdout().lock(), &generated) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("{}: {e}", T::NAME);
                Status::Failed.into()
            }
            _ => Status::Done.into(),
        };
    }
    let mut args = match T::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => return parse_error(T::NAME, e),
    };
    let global = args.global().clone();
    init_logging(T::NAME, &global.out);

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", T::NAME);
            return Status::Failed.into();
        }
    };
    let rate = args.rate();
    let outcome = runtime.block_on(async {
        args.validate()?;
        let fallback = args.fallback_region();
        let ctx = Context::load(&global.aws, rate, fallback.as_deref()).await?;
        args.run(ctx).await
    });
    match outcome {
        Ok(report) => {
            let mut stdout = io::stdout().lock();
            if let Err(e) = write_report(&report, global.out.output, &mut stdout) {
                eprintln!("{}: writing the result: {e}", T::NAME);
                return Status::Failed.into();
            }
            match report.failure() {
                None => Status::Done.into(),
                Some(reason) => {
                    eprintln!("{}: {reason}", T::NAME);
                    report.failure_status().into()
                }
            }
        }
        Err(err) => {
            eprintln!("{}: {}", T::NAME, render(&err));
            Status::of(&err).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_names_the_tool_itself() {
        assert_eq!(default_filter("prune-amis", 0, false), "warn,common=info,prune_amis=info");
        assert_eq!(default_filter("some-new-tool", 1, false), "warn,common=debug,some_new_tool=debug");
        assert_eq!(default_filter("x", 0, true), "error");
    }

    #[test]
    fn rates_and_seconds_say_what_they_are() {
        assert!(positive_rate("0").unwrap_err().contains("calls per second"));
        assert!(positive_secs("-1").unwrap_err().contains("seconds"));
        assert_eq!(positive_rate("2.5"), Ok(2.5));
    }
}
