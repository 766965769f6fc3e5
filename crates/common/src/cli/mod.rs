//! The process: the one `main` every tool shares (parse, set up logging, load config, run,
//! print the report, map the outcome to a [`Status`]) and the [`Tool`] trait a tool implements
//! for it; the flag groups; logging on stderr; the report on stdout; exit statuses; signals.
//!
//! The one `main`: see [`main_with`].

pub mod flags;
mod logging;
pub mod output;
pub mod signal;
pub mod status;

use std::future::Future;
use std::io;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use crate::aws::error::{one_line, render};
use crate::aws::Context;
use flags::GlobalArgs;
use logging::init_logging;
use output::{write_report, Report};
use status::Status;

/// One deploy tool: its arguments, which [`Tool::prepare`] turns into the [`Plan`] it runs.
pub trait Tool: Parser {
    /// The binary's name, used as the prefix of error lines.
    const NAME: &'static str;
    type Plan: Plan;

    fn global(&self) -> &GlobalArgs;

    /// Checks the arguments and makes the plan, before anything else happens (no config, no
    /// request): every usage error is found here.
    fn prepare(self) -> anyhow::Result<Prepared<Self::Plan>>;
}

/// What a tool does once its arguments are checked; its report goes to stdout.
pub trait Plan {
    type Report: Report;

    fn run(self, ctx: Context) -> impl Future<Output = anyhow::Result<Self::Report>>;
}

/// A plan, and how to reach AWS for it: `--rate` for the tools that pace their mutating calls,
/// and the Region to use when neither --region nor the standard chain names one (the first
/// of `--regions`).
pub struct Prepared<P> {
    pub plan: P,
    pub rate: Option<f64>,
    pub fallback_region: Option<String>,
}

impl<P> Prepared<P> {
    pub fn new(plan: P) -> Self {
        Prepared { plan, rate: None, fallback_region: None }
    }

    pub fn rate(mut self, rate: Option<f64>) -> Self {
        self.rate = rate;
        self
    }

    pub fn fallback_region(mut self, region: Option<String>) -> Self {
        self.fallback_region = region;
        self
    }
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
    let args = match T::from_arg_matches(&matches) {
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
    let outcome = runtime.block_on(async {
        let prepared = args.prepare()?;
        let ctx = Context::load(T::NAME, &global.aws, prepared.rate, prepared.fallback_region.as_deref()).await?;
        prepared.plan.run(ctx).await
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
