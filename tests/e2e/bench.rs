//! The benchmark runs: every row at its smallest sizes, through scripts/bench, each row's
//! calls at the minimum it names.

use std::process::Command;

use deploy_tests::{bin_dir, root};

#[test]
fn every_row_runs_at_the_smallest_sizes_and_makes_the_calls_it_names() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let profile = if bin_dir().ends_with("debug") { "dev" } else { "release" };
    let out = Command::new(root().join("scripts/bench"))
        .args([
            "--profile",
            profile,
            "--runs",
            "1",
            "--sizes",
            "3",
            "--region-size",
            "2",
            "--aws-sizes",
            "3",
            "--aws-runs",
            "1",
            "--no-peer",
        ])
        .output()
        .expect("running scripts/bench");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/bench failed:\n{stdout}\n{stderr}");
    // | run | wall | CPU | RSS | first request | calls | minimum | floor | (the first table)
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| run ") && !l.starts_with("|---"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    for tool in [
        "latest-ami",
        "bump-launch-template",
        "delete-ami",
        "instance-refresh",
        "verify-ami",
        "prune-amis, 3 AMIs",
        "--regions",
        "--targets",
        "two waves",
        "one at a time",
    ] {
        assert!(rows.iter().any(|r| r[0].contains(tool)), "no row for {tool}:\n{stdout}");
    }
    for row in rows.iter().filter(|r| r.len() == 8) {
        // A minimum that is a count (not "1 start + 1 describe per poll") is what the run made.
        let Some(least) = row[6].split(' ').next().and_then(|n| n.parse::<u32>().ok()).filter(|_| !row[6].contains('+')) else {
            continue;
        };
        assert_eq!(row[5].parse::<u32>().ok(), Some(least), "{}: calls against the minimum it names\n{stdout}", row[0]);
    }
    assert!(stdout.contains("Under AWS's rules"), "the rows under AWS's rules:\n{stdout}");
}
