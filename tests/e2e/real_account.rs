//! The tools in a real account's world (see the harness's `world.rs`): two applications on one
//! branch, pinned groups, SSM parameters, a `resolve:ssm:` template, shared, public, protected
//! and disabled AMIs. Nothing of another application, and nothing still needed, is touched.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences};
use deploy_tests::world::{RealWorld, OTHER_ACCOUNT};
use deploy_tests::{workdir, LocalAws};

/// The dry run's plan, image ID -> (action, reason, state).
fn plan(v: &serde_json::Value) -> BTreeMap<String, (String, String, String)> {
    v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap().to_owned();
            (s("image_id"), (s("action"), s("reason"), s("state")))
        })
        .collect()
}

#[tokio::test]
async fn latest_ami_picks_the_applications_own_image() {
    let aws = LocalAws::start().await;
    let w = aws.real_account_world().await;
    let dir = workdir();
    // The branch alone picks the other application's newer image: why --tag exists.
    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(run.stdout.trim(), w.api[2]);
    let run = aws.run("latest-ami", dir.path(), &["main", "--tag", "app=web"]).expect(0);
    assert_eq!(run.stdout.trim(), w.web[11]);
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), format!("{}\n", w.web[11]));
    let run = aws.run("latest-ami", dir.path(), &["main", "--tag", "app=web", "--tag", "team=nobody"]).expect(1);
    assert!(run.error_line("latest-ami").contains("team=\"nobody\""), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), format!("{}\n", w.web[11]), "left as it was");
}

#[tokio::test]
async fn prune_keeps_every_ami_something_needs_and_says_why() {
    let aws = LocalAws::start().await;
    let w = aws.real_account_world().await;
    let dir = workdir();
    let mut snaps = BTreeMap::new();
    for ami in w.web.iter().chain(&w.api) {
        snaps.insert(ami.clone(), aws.snapshots_of(ami).await);
    }

    let dry = aws.run("prune-amis", dir.path(), &["main", "2", "--tag", "app=web", "--dry-run", "-o", "json"]).expect(0).json();
    assert_eq!(dry["tags"]["app"], "web");
    let p = plan(&dry);
    assert_eq!(p.len(), 12, "only app=web's AMIs are planned, the disabled one included: {p:?}");
    assert!(w.api.iter().all(|a| !p.contains_key(a)));
    let region = aws.region;
    let expect_kept: [(usize, String); 9] = [
        (0, format!("in use: SSM parameter arn:aws:ssm:{region}:123456789012:parameter/golden/web names it")),
        (1, format!("launch template {} version 1 (default) names it", w.alias_lt)),
        (2, format!("shared: shared with account {OTHER_ACCOUNT} (--include-shared retires it)")),
        (3, "shared: public (--include-shared retires it)".into()),
        (4, "protected: deregistration protection is enabled-without-cooldown".into()),
        (6, format!("group pinned launches launch template {} version 2", w.web_lt)),
        (7, format!("group mixed launches launch template {} version 3", w.web_lt)),
        (10, "among the newest 2".into()),
        (11, "among the newest 2".into()),
    ];
    for (i, reason) in &expect_kept {
        let (action, why, _) = &p[&w.web[*i]];
        assert_eq!(action, "keep", "web[{i}]: {why}");
        assert!(why.contains(reason.as_str()), "web[{i}]: {why:?} lacks {reason:?}");
    }
    for ami in w.web_doomed() {
        assert_eq!(p[&ami].0, "delete", "{ami}: {:?}", p[&ami]);
    }
    assert_eq!(p[&w.web[5]].2, "disabled");

    aws.run("prune-amis", dir.path(), &["main", "2", "--tag", "app=web"]).expect(0);
    let doomed = w.web_doomed();
    let mut left: Vec<String> = w.web.iter().chain(&w.api).filter(|a| !doomed.contains(a)).cloned().collect();
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);
    for (ami, ami_snaps) in &snaps {
        for snap in ami_snaps {
            assert_eq!(aws.snapshot_exists(snap).await, !doomed.contains(ami), "snapshot {snap} of {ami}");
        }
    }

    // --include-shared lets the shared and public ones go; protection and uses still hold.
    let run = aws.run("prune-amis", dir.path(), &["main", "2", "--tag", "app=web", "--include-shared", "-o", "json"]).expect(0).json();
    let deleted: Vec<&str> = run["deleted"].as_array().unwrap().iter().map(|d| d["image_id"].as_str().unwrap()).collect();
    assert_eq!(deleted, [w.web[2].as_str(), w.web[3].as_str()]);
    assert!(aws.branch_amis("main").await.contains(&w.web[4]));
}

#[tokio::test]
async fn delete_ami_refuses_what_is_needed_and_never_lifts_protection() {
    let aws = LocalAws::start().await;
    let w: RealWorld = aws.real_account_world().await;
    let dir = workdir();
    let refuse = |ami: &str, args: &[&str], says: &str| {
        let mut all = vec![ami];
        all.extend_from_slice(args);
        let run = aws.run("delete-ami", dir.path(), &all).expect(1);
        let line = run.error_line("delete-ami").to_owned();
        assert!(line.contains(says), "{line}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    };
    refuse(&w.web[0], &[], "SSM parameter");
    refuse(&w.web[1], &[], "launch template");
    refuse(&w.web[2], &[], &format!("shared with account {OTHER_ACCOUNT}"));
    refuse(&w.web[3], &[], "public");
    refuse(&w.web[4], &[], "deregistration protection is enabled-without-cooldown");
    refuse(&w.web[4], &["--force", "--include-shared"], "deregistration protection");
    let all = aws.branch_amis("main").await;
    assert!(w.web[..5].iter().all(|a| all.contains(a)), "nothing refused was deleted");
    let image = aws.ec2().describe_images().image_ids(&w.web[4]).send().await.unwrap();
    assert_eq!(image.images()[0].deregistration_protection(), Some("enabled-without-cooldown"), "protection left on");

    aws.run("delete-ami", dir.path(), &[&w.web[2], "--include-shared"]).expect(0);
    // A disabled AMI is found (EC2 hides it unless asked) and deleted with its snapshots.
    let snaps = aws.snapshots_of(&w.web[5]).await;
    aws.run("delete-ami", dir.path(), &[&w.web[5]]).expect(0);
    assert!(!aws.snapshot_exists(&snaps[0]).await);
    let left = aws.branch_amis("main").await;
    assert!(!left.contains(&w.web[2]) && !left.contains(&w.web[5]));
}

#[tokio::test]
async fn bump_keeps_versions_that_groups_and_refreshes_launch() {
    let aws = LocalAws::start().await;
    let w = aws.real_account_world().await;
    let dir = workdir();
    // A refresh of "pinned" deploying version 4, held at a checkpoint while bump runs.
    let asg = aws.asg();
    let spec = LaunchTemplateSpecification::builder().launch_template_id(&w.web_lt).version("4").build();
    asg.start_instance_refresh()
        .auto_scaling_group_name("pinned")
        .desired_configuration(DesiredConfiguration::builder().launch_template(spec).build())
        .preferences(RefreshPreferences::builder().min_healthy_percentage(50).checkpoint_percentages(50).checkpoint_delay(172_800).build())
        .send()
        .await
        .unwrap();

    let v = aws.run("bump-launch-template", dir.path(), &[&w.web_lt, &w.web[11], "2", "-o", "json"]).expect(0).json();
    assert_eq!(v["version"], 7);
    assert_eq!(v["deleted_versions"], serde_json::json!([5]));
    let kept: BTreeMap<i64, String> =
        v["kept"].as_array().unwrap().iter().map(|k| (k["version"].as_i64().unwrap(), k["reason"].as_str().unwrap().to_owned())).collect();
    assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 6, 7]);
    assert!(kept[&2].contains("group pinned launches it"), "{kept:?}");
    assert!(kept[&3].contains("group mixed launches it"), "{kept:?}");
    assert!(kept[&4].contains("instance refresh") && kept[&4].contains("of group pinned"), "{kept:?}");
    assert_eq!(aws.versions(&w.web_lt).await.0, [1, 2, 3, 4, 6, 7]);

    let refreshes = asg.describe_instance_refreshes().auto_scaling_group_name("pinned").send().await.unwrap();
    let status = refreshes.instance_refreshes()[0].status().unwrap().as_str().to_owned();
    assert!(["Pending", "InProgress"].contains(&status.as_str()), "the refresh was still running during the bump: {status}");
}

#[tokio::test]
async fn a_malformed_tag_is_a_usage_error_before_any_request() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    aws.reset_calls();
    for tool in [&["latest-ami", "main"][..], &["prune-amis", "main", "2"][..]] {
        for (bad, says) in
            [("app", "expected KEY=VALUE"), ("=web", "key is empty"), ("", "expected KEY=VALUE"), ("branch=x", "BRANCH argument")]
        {
            let mut args: Vec<&str> = tool[1..].to_vec();
            args.extend(["--tag", bad]);
            let run = aws.run(tool[0], dir.path(), &args).expect(2);
            let first = run.stderr.lines().next().unwrap_or_default();
            assert!(first.contains("--tag") && first.contains(says), "{} --tag {bad:?}: {}", tool[0], run.stderr);
        }
        // One key, two values: no AMI can match; refused as usage too.
        let mut args: Vec<&str> = tool[1..].to_vec();
        args.extend(["--tag", "app=a", "--tag", "app=b"]);
        let run = aws.run(tool[0], dir.path(), &args).expect(2);
        assert!(run.error_line(tool[0]).contains("give each key once"), "{}", run.stderr);
    }
    assert!(aws.calls().is_empty(), "bad input sends nothing: {:?}", aws.calls());
}
