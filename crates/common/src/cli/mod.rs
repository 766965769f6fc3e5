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
use clap::{Args, FromArgMatches, Parser};

use crate::aws::error::{one_line, render};
use crate::aws::Context;
use flags::{GlobalArgs, PaceArgs};
use logging::init_logging;
use output::{write_report, Report};
use status::Status;

/// One deploy tool: its own arguments (the flags every tool takes, [`GlobalArgs`], and
/// `--rate` for a [`Tool::PACED`] tool, are added and read here, once), which
/// [`Tool::prepare`] turns into the [`Plan`] it runs.
pub trait Tool: Parser {
    /// The binary's name, used as the prefix of error lines.
    const NAME: &'static str;
    /// Whether the tool takes `--rate` (the tools that make EC2's mutating calls in numbers).
    const PACED: bool = false;
    type Plan: Plan;

    /// Checks the arguments and makes the plan of domain types, before anything else happens
    /// (no config, no request): every usage error is found here, and nothing after it reads
    /// the arguments.
    fn prepare(self, global: &GlobalArgs) -> anyhow::Result<Self::Plan>;
}

/// What a tool does once its arguments are checked; its report goes to stdout.
pub trait Plan {
    type Report: Report;

    /// The Region to use when neither --region nor the standard chain names one (the first
    /// of `--regions`).
    fn fallback_region(&self) -> Option<&str> {
        None
    }

    fn run(self, ctx: Context) -> impl Future<Output = anyhow::Result<Self::Report>>;
}

/// The tool's command line: its own arguments, `--rate` under "Pacing" if it paces, then the
/// flags every tool takes.
fn command<T: Tool>() -> clap::Command {
    let mut cmd = T::command().version(crate::VERSION);
    // Augmenting sets the groups' own docs as the command's about: keep the tool's.
    let (about, long_about) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    if T::PACED {
        cmd = PaceArgs::augment_args(cmd.next_help_heading("Pacing"));
    }
    let cmd = GlobalArgs::augment_args(cmd);
    let cmd = match about {
        Some(about) => cmd.about(about),
        None => cmd,
    };
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd,
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
    let matches = match command::<T>().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return parse_error(T::NAME, e),
    };
    // --completions and --man stand alone (clap's `exclusive`), so the tool's required
    // arguments are not asked for; answer them before building the tool's arguments.
    let mut generated = Vec::new();
    if let Some(shell) = matches.get_one::<clap_complete::Shell>("completions") {
        clap_complete::generate(*shell, &mut command::<T>(), T::NAME, &mut generated);
    } else if matches.get_flag("man") {
        // Rendering into memory cannot fail.
        let _ = clap_mangen::Man::new(command::<T>()).render(&mut generated);
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
    let parsed = T::from_arg_matches(&matches).and_then(|args| Ok((args, GlobalArgs::from_arg_matches(&matches)?)));
    let (args, global) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return parse_error(T::NAME, e),
    };
    let rate = if T::PACED { PaceArgs::from_arg_matches(&matches).ok().and_then(|p| p.rate) } else { None };
    init_logging(T::NAME, &global.out);

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", T::NAME);
            return Status::Failed.into();
        }
    };
    let outcome = runtime.block_on(async {
        let plan = args.prepare(&global)?;
        let ctx = Context::load(T::NAME, &global.aws, rate, plan.fallback_region()).await?;
        plan.run(ctx).await
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
