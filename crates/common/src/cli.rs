//! The flags every tool takes, and the one `main` they all share: parse, set up logging,
//! load config, run, print the report, map the outcome to an exit status.

use std::future::Future;
use std::io;
use std::process::ExitCode;

use clap::{Args, Parser};
use tracing_subscriber::EnvFilter;

use crate::aws::Context;
use crate::error::{exit_code, render};
use crate::output::{write_report, OutputFormat, Report};

/// Flags shared by every tool, flattened into each tool's arguments.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// AWS Region to use (default: the standard chain: AWS_REGION, then the profile).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Named profile from ~/.aws/config to use (default: AWS_PROFILE, then "default").
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Send requests to this endpoint instead of AWS's (AWS_ENDPOINT_URL works too).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Allow a plain-http endpoint that is not on loopback (credentials cross the network unencrypted).
    #[arg(long, global = true)]
    pub allow_insecure_endpoint: bool,

    /// Give up on one attempt of an AWS call after this many seconds (the SDK then retries).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30.0, value_parser = positive_secs)]
    pub attempt_timeout: f64,

    /// Give up on an AWS call, retries included, after this many seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 120.0, value_parser = positive_secs)]
    pub operation_timeout: f64,

    /// Pace mutating calls to at most this many per second per action (default: EC2's own
    /// request-rate buckets, e.g. 5 per second after a burst of 100 for DeregisterImage).
    #[arg(long, global = true, value_name = "PER_SEC", value_parser = positive_secs)]
    pub rate: Option<f64>,

    /// Result format on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail on stderr: -v shows each AWS call, -vv the SDK's own logs. RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,
}

/// Parses a number of seconds that must be positive and finite.
pub fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

/// One deploy tool: its arguments, and the operation they drive.
pub trait Tool: Parser {
    /// The binary's name, used as the prefix of error lines.
    const NAME: &'static str;
    type Report: Report;

    fn global(&self) -> &GlobalArgs;

    /// Checks the arguments before anything else happens (no config, no request).
    fn validate(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn run(self, ctx: Context) -> impl Future<Output = anyhow::Result<Self::Report>>;
}

fn init_logging(global: &GlobalArgs) {
    let default = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn,common=info,latest_ami=info,delete_ami=info,prune_amis=info,bump_launch_template=info,instance_refresh=info",
            1 => "warn,common=debug,latest_ami=debug,delete_ami=debug,prune_amis=debug,bump_launch_template=debug,instance_refresh=debug",
            _ => "debug,hyper=info,h2=info,rustls=info",
        }
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.is_empty() && !global.quiet => EnvFilter::new(s),
        _ => EnvFilter::new(default),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .without_time()
        .with_target(global.verbose > 1)
        .with_level(global.verbose > 0)
        .with_ansi(false)
        .try_init();
}

/// The whole life of a tool's process. `main.rs` is `common::cli::main::<Args>()`.
pub fn main<T: Tool>() -> ExitCode {
    // --completions and --man stand alone (clap's `exclusive`), so the tool's required
    // arguments are not asked for; answer them before building the tool's arguments.
    let matches = T::command().get_matches();
    let mut generated = Vec::new();
    if let Some(shell) = matches.get_one::<clap_complete::Shell>("completions") {
        clap_complete::generate(*shell, &mut T::command(), T::NAME, &mut generated);
    } else if matches.get_flag("man") {
        // Rendering into memory cannot fail.
        let _ = clap_mangen::Man::new(T::command()).render(&mut generated);
    }
    if !generated.is_empty() {
        return match io::Write::write_all(&mut io::stdout().lock(), &generated) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("{}: {e}", T::NAME);
                ExitCode::from(1)
            }
            _ => ExitCode::SUCCESS,
        };
    }
    let mut args = match T::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let global = args.global().clone();
    init_logging(&global);

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", T::NAME);
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        args.validate()?;
        let ctx = Context::load(&global).await?;
        args.run(ctx).await
    });
    match outcome {
        Ok(report) => {
            let mut stdout = io::stdout().lock();
            if let Err(e) = write_report(&report, global.output, &mut stdout) {
                eprintln!("{}: writing the result: {e}", T::NAME);
                return ExitCode::from(1);
            }
            match report.failure() {
                None => ExitCode::SUCCESS,
                Some(reason) => {
                    eprintln!("{}: {reason}", T::NAME);
                    ExitCode::from(report.failure_status())
                }
            }
        }
        Err(err) => {
            eprintln!("{}: {}", T::NAME, render(&err));
            ExitCode::from(exit_code(&err))
        }
    }
}
