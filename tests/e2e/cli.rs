//! Help, version, completions and man pages, from the same clap definitions.

use std::process::Command;

use deploy_tests::{bin_dir, tools, Ran};

fn run(tool: &str, args: &[&str]) -> Ran {
    Ran::from(Command::new(bin_dir().join(tool)).args(args).output().unwrap())
}

/// The long flags a bash completion script offers for the tool.
fn flags_from_completions(tool: &str) -> Vec<String> {
    let script = run(tool, &["--completions", "bash"]).expect(0).stdout;
    let mut flags: Vec<String> = script
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).to_owned())
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn help_explains_every_flag_with_an_example() {
    for tool in tools() {
        let help = run(tool, &["--help"]).expect(0).stdout;
        let flags = flags_from_completions(tool);
        assert!(flags.len() >= 10, "{tool}: {flags:?}");
        for flag in &flags {
            assert!(help.contains(flag.as_str()), "{tool} --help does not mention {flag}");
        }
        assert!(help.contains("Example"), "{tool} --help has no example");
    }
}

#[test]
fn version_on_all() {
    for tool in tools() {
        let out = run(tool, &["--version"]).expect(0).stdout;
        assert!(out.starts_with(&format!("{tool} ")), "{out}");
    }
}

#[test]
fn completions_for_each_shell_and_man_pages() {
    for tool in tools() {
        for shell in ["bash", "zsh", "fish"] {
            let script = run(tool, &["--completions", shell]).expect(0).stdout;
            assert!(script.contains(tool) && script.contains("output"), "{tool} {shell}: {script}");
        }
        let man = run(tool, &["--man"]).expect(0).stdout;
        assert!(man.contains(".TH") && man.contains(tool), "{tool}: {man}");
    }
    // Unknown shell: a usage error.
    run("latest-ami", &["--completions", "tcsh"]).expect(2);
}
