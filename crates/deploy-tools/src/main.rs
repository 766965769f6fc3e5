//! The tools in one binary, for the release package: one program to build, link and ship
//! instead of one for each tool, each mostly the same AWS SDK. Installed under the tools' names
//! (links to it), it runs the tool it is called as; `deploy-tools TOOL ARGS...` works too.
//! Each tool keeps its own arguments, help, completions and man page.
//!
//! `deploy-tools targets FILE` checks a multi-Region deploy's targets file (see `targets`);
//! `deploy-tools deploy FILE` deploys a build to its targets in waves (see `deploy`);
//! `deploy-tools status FILE` shows what each target runs (see `status`).
//! `deploy-tools --list` prints the tools' names, one a line: the one list of them, which the
//! package, the install phase, the benchmark and the tests read.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use common::cli::main_with;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.len() == 2 && args[1] == "--list" {
        let names: String = TOOLS.iter().map(|(name, _)| format!("{name}\n")).collect();
        return match std::io::Write::write_all(&mut std::io::stdout().lock(), names.as_bytes()) {
            Ok(()) => common::Status::Done.into(),
            Err(e) => {
                eprintln!("deploy-tools: {e}");
                common::Status::Failed.into()
            }
        };
    }
    let called = args.first().and_then(|a| Path::new(a).file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if run(&called).is_none() {
        // `deploy-tools TOOL ARGS...`: the tool's name stands where a link's would.
        if args.len() > 1 {
            args.remove(0);
        }
    }
    let tool = args.first().and_then(|a| Path::new(a).file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match run(&tool) {
        Some(main) => main(args),
        None => {
            eprintln!(
                "deploy-tools: run it as one of {} (a link by that name, or deploy-tools TOOL ARGS...), or as deploy-tools targets|deploy|status FILE",
                TOOLS.map(|(name, _)| name).join(", ")
            );
            common::Status::Usage.into()
        }
    }
}

type Main = fn(Vec<OsString>) -> ExitCode;

/// The tools, by the names they are installed under, in the deploy loop's order.
const TOOLS: [(&str, Main); 7] = [
    ("latest-ami", main_with::<latest_ami::Args>),
    ("prune-amis", main_with::<prune_amis::Args>),
    ("delete-ami", main_with::<delete_ami::Args>),
    ("bump-launch-template", main_with::<bump_launch_template::Args>),
    ("instance-refresh", main_with::<instance_refresh::Args>),
    ("verify-ami", main_with::<verify_ami::Args>),
    ("rollback", main_with::<rollback::Args>),
];

fn run(tool: &str) -> Option<Main> {
    match tool {
        "targets" => return Some(main_with::<deploy_tools::targets::Args>),
        "deploy" => return Some(main_with::<deploy_tools::deploy::Args>),
        "status" => return Some(main_with::<deploy_tools::status::Args>),
        _ => {}
    }
    TOOLS.iter().find(|(name, _)| *name == tool).map(|(_, main)| *main)
}
