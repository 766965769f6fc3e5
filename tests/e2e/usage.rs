//! Every malformed argument of every tool: exit status 2, one line naming the problem
//! (`<tool>: ...`), and no request sent. The one exception is bump's "Must keep at least 2
//! versions", which exits 1 as the script it replaces did.

use deploy_tests::{refresh_config, workdir, LocalAws};

const AMI: &str = "ami-0123456789abcdef0";
const LT: &str = "lt-0123456789abcdef0";

#[tokio::test]
async fn every_malformed_argument_is_a_usage_error_before_any_request() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let missing = dir.path().join("missing.json").to_string_lossy().into_owned();
    let bad_json = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercent": 90}}"#);
    // Six alarms in the file: five --alarm flags more make eleven, one past AWS's ten.
    let six = dir.path().join("six-alarms.json");
    std::fs::write(&six, r#"{"Preferences": {"AlarmSpecification": {"Alarms": ["a", "b", "c", "d", "e", "f"]}}}"#).unwrap();
    let six = six.to_string_lossy().into_owned();
    // A targets file whose role is not an ARN, and one naming a Region twice in one account.
    let bad_role = dir.path().join("bad-role.json");
    std::fs::write(
        &bad_role,
        format!(r#"[{{"region": "us-east-1", "launch_template_id": "{LT}", "auto_scaling_group": "web", "role_arn": "deploy"}}]"#),
    )
    .unwrap();
    let bad_role = bad_role.to_string_lossy().into_owned();
    let twice = dir.path().join("twice.json");
    let role = "arn:aws:iam::222233334444:role/deploy";
    let entry = format!(r#"{{"region": "us-east-1", "launch_template_id": "{LT}", "auto_scaling_group": "web", "role_arn": "{role}"}}"#);
    std::fs::write(&twice, format!("[{entry}, {entry}]")).unwrap();
    let twice = twice.to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("latest-ami", vec![], "<BRANCH>"),
        ("latest-ami", vec!["main", "--tag", "app"], "KEY=VALUE"),
        ("latest-ami", vec!["main", "--tag", "=web"], "key is empty"),
        ("latest-ami", vec!["main", "-o", "yaml"], "yaml"),
        ("latest-ami", vec!["main", "--attempt-timeout", "0"], "seconds"),
        ("latest-ami", vec!["main", "--rate", "5"], "--rate"),
        ("prune-amis", vec!["main"], "<MAX>"),
        ("prune-amis", vec!["main", "0"], "<MAX>"),
        ("prune-amis", vec!["main", "-1"], "<MAX>"),
        ("prune-amis", vec!["main", "1.5"], "<MAX>"),
        ("prune-amis", vec!["main", "2", "--concurrency", "0"], "--concurrency"),
        ("prune-amis", vec!["main", "2", "--rate", "0"], "calls per second"),
        ("prune-amis", vec!["main", "2", "--tag", "branch=x"], "BRANCH"),
        ("prune-amis", vec!["main", "2", "--tag", "a=1", "--tag", "a=2"], "give each key once"),
        ("prune-amis", vec!["main", "2", "--older-than", "soon"], "expected a duration"),
        ("prune-amis", vec!["main", "2", "--older-than", "30"], "expected a duration"),
        ("prune-amis", vec!["main", "2", "--older-than", "-5d"], "expected a duration"),
        ("prune-amis", vec!["main", "2", "--older-than", "0s"], "more than 0"),
        ("prune-amis", vec!["main", "2", "--unused-for", "0d"], "more than 0"),
        ("prune-amis", vec!["main", "2", "--retire", "shred"], "shred"),
        ("prune-amis", vec!["main", "2", "--targets", &missing], "missing.json: cannot read it"),
        ("prune-amis", vec!["main", "2", "--targets", &bad_role], "target 1 (us-east-1): malformed role ARN"),
        ("prune-amis", vec!["main", "2", "--targets", &twice], "one target per Region and account"),
        ("delete-ami", vec![AMI, "-", "-"], "stdin"),
        ("delete-ami", vec![], "<AMI_ID>"),
        ("delete-ami", vec!["not-an-ami"], "malformed AMI ID"),
        ("delete-ami", vec!["ami-0123ABCD"], "malformed AMI ID"),
        ("delete-ami", vec![AMI, "--rate", "-1"], "--rate"),
        ("prune-amis", vec!["main", "2", "--concurrency", "-3"], "--concurrency"),
        ("instance-refresh", vec![&cfg, "web", "--timeout", "-5"], "--timeout"),
        ("bump-launch-template", vec!["lt-zz", AMI, "2"], "malformed launch template ID"),
        ("bump-launch-template", vec![LT, "ami-bad", "2"], "malformed AMI ID"),
        ("bump-launch-template", vec![LT, AMI, "two"], "<VERSIONS_TO_KEEP>"),
        ("bump-launch-template", vec![LT, AMI, "2", "--source-version", "0"], "--source-version"),
        ("bump-launch-template", vec![LT, AMI, "2", "--source-version", "latest"], "--source-version"),
        ("instance-refresh", vec![&cfg], "<ASG_NAME>"),
        ("instance-refresh", vec![&cfg, "web", "--interval", "0"], "--interval"),
        ("instance-refresh", vec![&cfg, "web", "--launch-template-version", "0"], "--launch-template-version"),
        (
            "instance-refresh",
            vec![&cfg, "web", "--launch-template-id", "lt-zz", "--launch-template-version", "2"],
            "malformed launch template ID",
        ),
        ("instance-refresh", vec![&cfg, "web", "--launch-template-id", LT], "--launch-template-version"),
        ("instance-refresh", vec![&cfg, "web", "--if-running", "maybe"], "maybe"),
        ("instance-refresh", vec![&cfg, "web", "--rate", "5"], "--rate"),
        ("instance-refresh", vec![&cfg, "web", "--alarm", ""], "alarm name"),
        ("instance-refresh", vec![&cfg, "web", "--bake-time", "49h"], "48 hours"),
        ("instance-refresh", vec![&cfg, "web", "--bake-time", "1.5s"], "whole seconds"),
        ("instance-refresh", vec![&cfg, "web", "--bake-time", "soon"], "90s, 15m or 1h"),
        ("instance-refresh", vec![&cfg, "web", "--bake-time", ""], "--bake-time"),
        (
            "instance-refresh",
            vec![&six, "web", "--alarm", "a", "--alarm", "g", "--alarm", "h", "--alarm", "i", "--alarm", "j", "--alarm", "k"],
            "at most 10 alarms",
        ),
        ("instance-refresh", vec![&missing, "web"], "missing.json"),
        ("instance-refresh", vec![&bad_json, "web"], "MinHealthyPercent"),
        ("verify-ami", vec![LT], "<AMI_ID>"),
        ("rollback", vec![LT], "<ASG_NAME>"),
        ("rollback", vec!["lt-zz", "web"], "malformed launch template ID"),
        ("rollback", vec![LT, ""], "1 to 255"),
        ("rollback", vec![LT, "web", "--to-version", "0"], "--to-version"),
        ("rollback", vec![LT, "web", "--interval", "-1"], "seconds"),
        ("verify-ami", vec!["lt-zz", AMI], "malformed launch template ID"),
        ("verify-ami", vec![LT, "ami-bad"], "malformed AMI ID"),
        ("verify-ami", vec![LT, AMI, "--count", "0"], "--count"),
        ("verify-ami", vec![LT, AMI, "--count", "21"], "--count"),
        ("verify-ami", vec![LT, AMI, "--timeout", "0"], "--timeout"),
        ("verify-ami", vec![LT, AMI, "--interval", "-1"], "--interval"),
        ("verify-ami", vec![LT, AMI, "--interval", "60", "--timeout", "30"], "longer than --timeout"),
        ("verify-ami", vec![LT, AMI, "--source-version", "0"], "--source-version"),
        ("verify-ami", vec![LT, AMI, "--instance-type", "micro"], "malformed instance type"),
        ("verify-ami", vec![LT, AMI, "--subnet-id", "sub-123"], "malformed subnet ID"),
        ("verify-ami", vec![LT, AMI, "--asg", ""], "--asg"),
        ("verify-ami", vec![LT, AMI, "--ssm-command", " "], "the command is empty"),
        ("verify-ami", vec![LT, AMI, "--target-group-arn", "web"], "malformed target group ARN"),
        ("verify-ami", vec![LT, AMI, "--on-failure", "delete"], "delete"),
    ];
    // --role-arn and --external-id, which every tool takes, checked before any request.
    let mut cases = cases;
    let valid: [(&str, Vec<&str>); 6] = [
        ("latest-ami", vec!["main"]),
        ("prune-amis", vec!["main", "2"]),
        ("delete-ami", vec![AMI]),
        ("bump-launch-template", vec![LT, AMI, "2"]),
        ("instance-refresh", vec![&cfg, "web"]),
        ("verify-ami", vec![LT, AMI]),
    ];
    for (tool, base) in &valid {
        for (extra, says) in [
            (vec!["--role-arn", "deploy"], "malformed role ARN"),
            (vec!["--role-arn", "arn:aws:iam::12345:role/deploy"], "malformed role ARN"),
            (vec!["--role-arn", "arn:aws:iam::222233334444:role/deploy", "--external-id", "x"], "malformed external ID"),
            (vec!["--external-id", "build-account"], "--role-arn"),
        ] {
            cases.push((*tool, [base.clone(), extra].concat(), says));
        }
    }
    aws.reset_calls();
    for (tool, args, says) in &cases {
        let run = aws.tool(tool, dir.path()).args(args).output();
        let context = format!("{tool} {args:?}:\n{}", run.stderr);
        assert_eq!(run.code, 2, "{context}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {context}");
        assert!(run.stderr.starts_with(&format!("{tool}: ")), "{context}");
        assert!(run.stderr.contains(says), "names {says:?}: {context}");
        assert_eq!(run.stdout, "", "{context}");
    }
    assert!(aws.calls().is_empty(), "bad input sends nothing: {:?}", aws.calls());

    // The documented exception: the replaced script exited 1 here.
    let run = aws.run("bump-launch-template", dir.path(), &[LT, AMI, "1"]).expect(1);
    assert_eq!(run.stderr, "bump-launch-template: Must keep at least 2 versions of launch template\n");
    assert!(aws.calls().is_empty());
}

#[test]
fn help_groups_flags_under_headings() {
    let help = std::process::Command::new(deploy_tests::bin_dir().join("prune-amis")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for heading in ["AWS connection:", "Output:", "Pacing:", "Shell integration:"] {
        assert!(help.contains(heading), "prune-amis --help lacks {heading}\n{help}");
    }
    let help = std::process::Command::new(deploy_tests::bin_dir().join("latest-ami")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(!help.contains("--rate") && !help.contains("Pacing:"), "latest-ami makes no paced call\n{help}");
}
