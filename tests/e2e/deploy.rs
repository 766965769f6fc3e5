//! `deploy-tools deploy`: one build to many targets in waves, the targets of a wave at once,
//! the first failure stopping the rest (and, with --rollback-on-failure, the fleet taken back
//! to the previous build), a deploy that resumes from what AWS says; `deploy-tools status`.

use deploy_tests::regions::{deploy_world, targets_file, Build};
use deploy_tests::{refresh_config, workdir, LocalAws, Run};

/// `deploy-tools deploy` of build b2 with the buildspec's variables, fast intervals.
fn deploy(aws: &LocalAws, dir: &std::path::Path, config: &str, args: &[&str]) -> Run {
    let mut run = aws.tool("deploy-tools", dir).arg("deploy");
    for (k, v) in [
        ("APP", "app"),
        ("BRANCH", "main"),
        ("CODEBUILD_BUILD_ID", "b2"),
        ("AMIS_TO_KEEP", "5"),
        ("VERSIONS_TO_KEEP", "3"),
        ("REFRESH_CONFIG", config),
        ("VERIFY_INTERVAL", "0.2"),
        ("REFRESH_INTERVAL", "0.2"),
    ] {
        run = run.env(k, v);
    }
    run.args(args)
}

/// The AMIs each Region's group "app" runs.
async fn running(regions: &[LocalAws]) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for r in regions {
        all.push(r.group_amis("app").await);
    }
    all
}

fn on(build: &Build, regions: &[LocalAws]) -> Vec<Vec<String>> {
    (0..regions.len()).map(|i| vec![build[i].clone(), build[i].clone()]).collect()
}

#[tokio::test]
async fn waves_deploy_in_order_and_a_waves_targets_at_once() {
    let regions = LocalAws::start_regions(3).await;
    let (builds, templates) = deploy_world(&regions).await;
    let dir = workdir();
    let file = targets_file(dir.path(), &regions, &templates, &[1, 2, 2], &[]);
    let config = refresh_config(dir.path(), "{}");
    let run = deploy(&regions[0], dir.path(), &config, &[&file, "-o", "json"]).output();
    eprintln!("{}", run.stderr);
    println!("{}", run.stdout);
    assert_eq!(run.code, 0);
    assert_eq!(running(&regions).await, on(&builds[1], &regions));
}
