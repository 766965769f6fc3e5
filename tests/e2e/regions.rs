//! Several Regions: builds copied to each as Packer's ami_regions copies them, pruned in each
//! Region at once, and one build picked that every Region has ready.

use deploy_tests::regions::{bake_copied, names};
use deploy_tests::{workdir, LocalAws};

/// The registered AMIs of branch "main" in a Region, sorted.
async fn remaining(aws: &LocalAws) -> Vec<String> {
    aws.branch_amis("main").await
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn prune_regions_prunes_the_copies_in_each_region_with_their_snapshots() {
    let regions = LocalAws::start_regions(3).await;
    let builds = bake_copied(&regions, "main", 4).await;
    // In the second Region a group still runs the oldest build: kept there, and only there.
    let lt = regions[1].launch_template("app", &builds[0][1]).await;
    regions[1].group("web", &lt, "1", 1).await;
    let mut snapshots = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let mut of_region = Vec::new();
        for b in &builds {
            of_region.push(r.snapshots_of(&b[i]).await);
        }
        snapshots.push(of_region);
    }
    let dir = workdir();
    let list = names(&regions);

    // The third Region cannot even be listed: the other two are pruned all the same.
    regions[2].deny(&["ec2:DescribeImages"]);
    let run = regions[0].run("prune-amis", dir.path(), &["--regions", &list, "main", "2", "--tag", "app=app", "-o", "json"]).expect(1);
    let json = run.json();
    let reports = json["regions"].as_array().unwrap();
    let order: Vec<&str> = reports.iter().map(|r| r["region"].as_str().unwrap()).collect();
    assert_eq!(order, list.split(',').collect::<Vec<_>>(), "one report per Region, in the order given");
    assert!(reports[2]["error"].as_str().unwrap().contains("UnauthorizedOperation"), "{json}");
    assert!(reports[0]["error"].is_null() && reports[1]["error"].is_null(), "{json}");
    let deleted = |r: &serde_json::Value| -> Vec<String> {
        sorted(r["deleted"].as_array().unwrap().iter().map(|d| d["image_id"].as_str().unwrap().to_owned()).collect())
    };
    assert_eq!(deleted(&reports[0]), sorted(vec![builds[0][0].clone(), builds[1][0].clone()]));
    assert_eq!(deleted(&reports[1]), vec![builds[1][1].clone()], "the copy in use stays in its Region");
    let line = run.error_line("prune-amis");
    assert!(line.contains("1 of 3 Regions failed") && line.contains(regions[2].region), "{line}");

    assert_eq!(remaining(&regions[0]).await, sorted(vec![builds[2][0].clone(), builds[3][0].clone()]));
    assert_eq!(remaining(&regions[1]).await, sorted(vec![builds[0][1].clone(), builds[2][1].clone(), builds[3][1].clone()]));
    for b in [0, 1] {
        for snap in &snapshots[0][b] {
            assert!(!regions[0].snapshot_exists(snap).await, "{snap} of a pruned AMI is gone");
        }
    }
    for snap in &snapshots[1][1] {
        assert!(!regions[1].snapshot_exists(snap).await, "{snap} of a pruned copy is gone");
    }
    assert!(regions[1].snapshot_exists(&snapshots[1][0][0]).await, "the copy in use keeps its snapshot");

    // Given its permission back, the third Region is pruned too; the text names each Region.
    regions[2].deny(&[]);
    assert_eq!(remaining(&regions[2]).await.len(), 4, "the failed Region was untouched");
    let run = regions[0].run("prune-amis", dir.path(), &["--regions", &list, "main", "2", "--tag", "app=app"]).expect(0);
    for r in &regions {
        assert!(run.stdout.lines().any(|l| l.starts_with(&format!("{}: Deleted", r.region))), "{}", run.stdout);
    }
    assert_eq!(remaining(&regions[2]).await, sorted(vec![builds[2][2].clone(), builds[3][2].clone()]));
    for snap in snapshots[2][0].iter().chain(&snapshots[2][1]) {
        assert!(!regions[2].snapshot_exists(snap).await);
    }
}

#[tokio::test]
async fn latest_ami_regions_picks_one_build_ready_in_every_region() {
    let regions = LocalAws::start_regions(3).await;
    let builds = bake_copied(&regions, "main", 3).await;
    let dir = workdir();
    let list = names(&regions);
    let lines = |b: usize| -> String { regions.iter().enumerate().map(|(i, r)| format!("{} {}\n", r.region, builds[b][i])).collect() };

    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(0);
    assert_eq!(run.stdout, lines(2));
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), lines(2));
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);

    // The newest build's copy is still pending in the second Region: every Region gets the
    // build before it, and stderr says why.
    regions[1].image_state(&builds[2][1], "pending");
    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(0);
    assert_eq!(run.stdout, lines(1));
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), lines(1));
    let warning = run.stderr.lines().find(|l| l.starts_with("latest-ami: warning:")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        warning.contains("main-app-2") && warning.contains(&format!("pending in {}", regions[1].region)) && warning.contains("main-app-1"),
        "{warning}"
    );

    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main", "-o", "json"]).expect(0);
    let json = run.json();
    for (i, r) in regions.iter().enumerate() {
        assert_eq!(json["images"][r.region], builds[1][i].as_str(), "{json}");
    }
    assert_eq!(json["name"], "main-app-1");
    assert_eq!(json["passed_over"][0]["name"], "main-app-2");

    // Once the copy is done, the newest build again.
    regions[1].image_state(&builds[2][1], "available");
    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(0);
    assert_eq!(run.stdout, lines(2));

    // No build ready everywhere: exit 1, and the file from the last good run is left alone.
    for b in &builds {
        regions[2].image_state(&b[2], "failed");
    }
    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(1);
    let line = run.error_line("latest-ami");
    assert!(
        line.contains("no build of branch main is available in every one of") && line.contains(&format!("failed in {}", regions[2].region)),
        "{line}"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), lines(2));

    // The Regions not listed do not matter: the first two have the newest build ready.
    let two = format!("{},{}", regions[0].region, regions[1].region);
    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &two, "main"]).expect(0);
    assert_eq!(run.stdout, format!("{} {}\n{} {}\n", regions[0].region, builds[2][0], regions[1].region, builds[2][1]));
}

#[tokio::test]
async fn bad_region_lists_and_targets_files_change_nothing() {
    let regions = LocalAws::start_regions(2).await;
    let builds = bake_copied(&regions, "main", 3).await;
    let dir = workdir();
    let home = &regions[0];
    let other = regions[1].region;
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let unparsable = write("broken.json", r#"[{"region": "us-east-1", "launch_template_id": "lt-01""#);
    let twice = write(
        "twice.json",
        &format!(
            r#"[{{"region": "{other}", "launch_template_id": "lt-01", "auto_scaling_group": "a"}},
                {{"region": "{other}", "launch_template_id": "lt-02", "auto_scaling_group": "b"}}]"#
        ),
    );
    let unknown = write("unknown.json", r#"[{"region": "eu-moon-1", "launch_template_id": "lt-01", "auto_scaling_group": "a"}]"#);
    // In the second Region: a group "web" on template "app", and a template "other" no group uses.
    let app = regions[1].launch_template("app", &builds[0][1]).await;
    regions[1].group("web", &app, "1", 0).await;
    let stray = regions[1].launch_template("other", &builds[0][1]).await;
    let target =
        |lt: &str, group: &str| format!(r#"[{{"region": "{other}", "launch_template_id": "{lt}", "auto_scaling_group": "{group}"}}]"#);
    let no_group = write("no-group.json", &target(&app, "nope"));
    let no_template = write("no-template.json", &target("lt-0123456789abcdef0", "web"));
    let wrong_template = write("wrong-template.json", &target(&stray, "web"));
    let group_missing = format!("target 1 ({other}): Auto Scaling group nope does not exist in {other}");
    let template_missing = format!("target 1 ({other}): launch template lt-0123456789abcdef0 does not exist in {other}");
    let template_wrong = format!("target 1 ({other}): group web uses launch template {app}, not {stray}");
    let with_unknown = format!("{},eu-moon-1", home.region);
    let list = deploy_tests::regions::names(&regions);
    let twice_listed = format!("{0},{1},{0}", home.region, other);
    let named_twice = format!("Region {other} is named twice (targets 1 and 2)");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("prune-amis", vec!["--regions", &with_unknown, "main", "1"], "unknown Region eu-moon-1"),
        ("latest-ami", vec!["--regions", &with_unknown, "main"], "unknown Region eu-moon-1"),
        ("prune-amis", vec!["--regions", "us-east-1,us-gov-west-1", "main", "1"], "unknown Region us-gov-west-1"),
        ("prune-amis", vec!["--regions", "", "main", "1"], "the Region list is empty"),
        ("latest-ami", vec!["--regions", "", "main"], "the Region list is empty"),
        ("prune-amis", vec!["--regions", &twice_listed, "main", "1"], "is named twice"),
        ("latest-ami", vec!["--regions", "us-east-1,,eu-west-1", "main"], "empty Region name"),
        ("prune-amis", vec!["--regions", "Europe", "main", "1"], "not a Region name"),
        ("prune-amis", vec!["--regions", &list, "main", "1", "--tag", "a=1", "--tag", "a=2"], "give each key once"),
        ("latest-ami", vec!["--regions", &list, "main", "--tag", "a=1", "--tag", "a=2"], "give each key once"),
        ("deploy-tools", vec!["targets", &unparsable], "broken.json: not a list of targets"),
        ("deploy-tools", vec!["targets", &twice], &named_twice),
        ("deploy-tools", vec!["targets", &unknown], "unknown Region eu-moon-1"),
        ("deploy-tools", vec!["targets", &no_group], &group_missing),
        ("deploy-tools", vec!["targets", &no_template], &template_missing),
        ("deploy-tools", vec!["targets", &wrong_template], &template_wrong),
    ];
    home.reset_calls();
    regions[1].reset_calls();
    for (tool, args, says) in &cases {
        let run = home.tool(tool, dir.path()).args(args).output();
        let context = format!("{tool} {args:?}:\n{}", run.stderr);
        assert_eq!(run.code, 2, "{context}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {context}");
        let prefix = if *tool == "deploy-tools" { "deploy-tools targets: " } else { &format!("{tool}: ") };
        assert!(run.stderr.starts_with(prefix), "{context}");
        assert!(run.stderr.contains(says), "names {says:?}: {context}");
        assert_eq!(run.stdout, "", "{context}");
    }
    // An unknown Region costs one DescribeRegions, asked before anything else; a target that
    // does not match its Region's templates and groups, one describe of each there; nothing
    // else is asked, and nothing changes.
    let calls = home.calls();
    assert_eq!(calls.keys().collect::<Vec<_>>(), ["ec2:DescribeRegions"], "{calls:?}");
    let calls = regions[1].calls();
    assert_eq!(calls.keys().collect::<Vec<_>>(), ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeLaunchTemplates"], "{calls:?}");
    for (i, r) in regions.iter().enumerate() {
        let all: Vec<String> = sorted(builds.iter().map(|b| b[i].clone()).collect());
        assert_eq!(remaining(r).await, all, "nothing pruned in {}", r.region);
    }
    assert!(!dir.path().join("latest_ami_id").exists());
}

#[tokio::test]
async fn prune_regions_keeps_the_build_a_deploy_falls_back_to_while_a_copy_is_pending() {
    let regions = LocalAws::start_regions(3).await;
    let builds = bake_copied(&regions, "main", 3).await;
    let dir = workdir();
    let list = names(&regions);
    // The newest build is still being copied to the second Region.
    regions[1].image_state(&builds[2][1], "pending");

    // MAX 1 alone would keep only the newest build in the first and third Regions, and the
    // build before it nowhere but the second: no build left that every Region has.
    let run = regions[0].run("prune-amis", dir.path(), &["--regions", &list, "main", "1", "--dry-run", "-o", "json"]).expect(0);
    let json = run.json();
    let reason = |r: usize, id: &str| -> String {
        let plan = json["regions"][r]["plan"].as_array().unwrap();
        plan.iter().find(|d| d["image_id"] == id).unwrap()["reason"].as_str().unwrap().to_owned()
    };
    assert!(reason(0, &builds[1][0]).contains("build main-app-1 is the newest available in every Region"), "{json}");
    assert!(reason(1, &builds[2][1]).starts_with("pending"), "{json}");

    regions[0].run("prune-amis", dir.path(), &["--regions", &list, "main", "1"]).expect(0);
    for (i, r) in regions.iter().enumerate() {
        assert_eq!(remaining(r).await, sorted(vec![builds[1][i].clone(), builds[2][i].clone()]), "{}", r.region);
    }
    // So the deploy still has a build for every Region.
    let run = regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(0);
    let expected: String = regions.iter().enumerate().map(|(i, r)| format!("{} {}\n", r.region, builds[1][i])).collect();
    assert_eq!(run.stdout, expected);
}

#[tokio::test]
async fn a_region_the_account_has_not_enabled_is_refused_before_anything() {
    let aws = LocalAws::start_not_opted_in("eu-south-1").await;
    let dir = workdir();
    for (tool, args) in [
        ("latest-ami", vec!["--regions", "us-east-1,eu-south-1", "main"]),
        ("prune-amis", vec!["--regions", "us-east-1,eu-south-1", "main", "1"]),
    ] {
        let run = aws.run(tool, dir.path(), &args).expect(2);
        let line = run.error_line(tool);
        assert!(line.contains("Region eu-south-1 is not enabled for this account (opt-in status not-opted-in)"), "{line}");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(aws.calls().keys().collect::<Vec<_>>(), ["ec2:DescribeRegions"]);
    // An opt-in Region the account has enabled passes the check (and then there is no build).
    let run = aws.run("latest-ami", dir.path(), &["--regions", "us-east-1,af-south-1", "main"]).expect(1);
    assert!(
        run.error_line("latest-ami").contains("no build of branch main is available in every one of us-east-1,af-south-1"),
        "{}",
        run.stderr
    );
}
