//! The pipeline stack (scripts/cloudformation/pipeline.yaml): deployed on the local AWS with
//! the README's command, it makes the role, bucket, log group and project, and deleting it
//! removes them; parameters that do not fit are refused with nothing left behind; the
//! project's variables are the buildspec's; the project's timeout covers what a build waits on.

use deploy_tests::stack::{buildspec_variables, parameter_of, template};
use deploy_tests::{LocalAws, World};

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_stack_makes_the_role_bucket_logs_and_project_and_deleting_it_removes_them() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start_alone().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").group("web", "$Latest", 1).build().await;
    let stack = format!("app-main-{}", aws.region);
    let lt_arg = format!("LaunchTemplateId={lt}");
    let ami_arg = format!("SourceAmi={}", amis[0]);
    ok(&aws.deploy_stack(&stack, &[&lt_arg, "AsgName=web", &ami_arg, "AmisToKeep=3"]));
    let out = aws.stack_outputs(&stack);
    for key in ["ProjectName", "ArtifactBucketName", "ServiceRoleArn", "LogGroupName", "NotifyTopicArn", "PublishThePackage", "StartABuild"]
    {
        assert!(out.contains_key(key), "output {key}: {out:?}");
    }
    let bucket = &out["ArtifactBucketName"];
    assert_eq!(out["PublishThePackage"], format!("scripts/package --upload s3://{bucket}/tools/"));

    // The project: the buildspec's variables, the parameters' values, a webhook on pushes to
    // the branch, the connection, and the role.
    let project = &aws.aws_json(&["codebuild", "batch-get-projects", "--names", &out["ProjectName"]])["projects"][0];
    let vars: Vec<(String, String)> = project["environment"]["environmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].as_str().unwrap().to_owned()))
        .collect();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected: Vec<String> = buildspec_variables().into_iter().map(|(n, _)| n).collect();
    expected.push("DEPLOY_NOTIFY_TOPIC".into());
    assert_eq!(names, expected, "the project's variables are the buildspec's, in its order, then the stack's topic");
    let value = |name: &str| vars.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(value("LAUNCH_TEMPLATE_ID"), lt);
    assert_eq!(value("AMIS_TO_KEEP"), "3");
    assert_eq!(value("VERSIONS_TO_KEEP"), "5", "the buildspec's default");
    assert_eq!(project["environment"]["computeType"], "BUILD_GENERAL1_SMALL");
    assert!(project["environment"]["image"].as_str().unwrap().starts_with("aws/codebuild/amazonlinux"), "{}", project["environment"]);
    assert_eq!(project["source"]["auth"]["type"], "CODECONNECTIONS");
    assert_eq!(project["source"]["location"], "https://github.com/acme/app.git");
    assert_eq!(project["serviceRole"], out["ServiceRoleArn"].as_str());
    assert_eq!(project["logsConfig"]["cloudWatchLogs"]["groupName"], out["LogGroupName"].as_str());
    let filters = &project["webhook"]["filterGroups"][0];
    assert_eq!(filters[0]["pattern"], "PUSH");
    assert_eq!(filters[1]["pattern"], "^refs/heads/main$");

    // The bucket: encrypted, versioned, public access blocked, plain HTTP refused.
    let enc = aws.aws_json(&["s3api", "get-bucket-encryption", "--bucket", bucket]);
    assert_eq!(enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256");
    assert_eq!(aws.aws_json(&["s3api", "get-bucket-versioning", "--bucket", bucket])["Status"], "Enabled");
    let block = &aws.aws_json(&["s3api", "get-public-access-block", "--bucket", bucket])["PublicAccessBlockConfiguration"];
    for key in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[key], true, "{key}: {block}");
    }
    let policy = aws.aws_json(&["s3api", "get-bucket-policy", "--bucket", bucket]);
    let policy: serde_json::Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    let deny = &policy["Statement"][0];
    assert_eq!((deny["Effect"].as_str(), deny["Condition"]["Bool"]["aws:SecureTransport"].as_str()), (Some("Deny"), Some("false")));

    // The deploy topic, which the project names (DEPLOY_NOTIFY_TOPIC), and the rule that sends
    // it the project's failed and stopped builds.
    let topic = &out["NotifyTopicArn"];
    assert_eq!(value("DEPLOY_NOTIFY_TOPIC"), *topic);
    let rules = aws.aws_json(&["events", "list-rules"]);
    let rule = rules["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["EventPattern"].as_str().is_some_and(|p| p.contains("aws.codebuild")))
        .expect("the failed-build rule");
    let pattern: serde_json::Value = serde_json::from_str(rule["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(pattern["detail"]["build-status"], serde_json::json!(["FAILED", "STOPPED"]));
    assert_eq!(pattern["detail"]["project-name"], serde_json::json!([out["ProjectName"]]));
    let targets = aws.aws_json(&["events", "list-targets-by-rule", "--rule", rule["Name"].as_str().unwrap()]);
    assert_eq!(targets["Targets"][0]["Arn"].as_str(), Some(topic.as_str()));

    // The log group, with a retention; the role, with its policies.
    let groups = aws.aws_json(&["logs", "describe-log-groups", "--log-group-name-prefix", &out["LogGroupName"]]);
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30);
    let role = out["ServiceRoleArn"].rsplit('/').next().unwrap().to_owned();
    let listed = aws.aws_json(&["iam", "list-role-policies", "--role-name", &role]);
    assert_eq!(listed["PolicyNames"].as_array().unwrap().len(), 2, "{listed}");

    // Deleting the stack removes them all.
    ok(&aws.aws_cli(&["cloudformation", "delete-stack", "--stack-name", &stack]));
    ok(&aws.aws_cli(&["cloudformation", "wait", "stack-delete-complete", "--stack-name", &stack]));
    let projects = aws.aws_json(&["codebuild", "batch-get-projects", "--names", &out["ProjectName"]]);
    assert!(projects["projects"].as_array().unwrap().is_empty(), "{projects}");
    assert!(!aws.aws_cli(&["s3api", "head-bucket", "--bucket", bucket]).status.success(), "the bucket is gone");
    assert!(!aws.aws_cli(&["iam", "get-role", "--role-name", &role]).status.success(), "the role is gone");
    let groups = aws.aws_json(&["logs", "describe-log-groups", "--log-group-name-prefix", &out["LogGroupName"]]);
    assert!(groups["logGroups"].as_array().unwrap().is_empty(), "{groups}");
}

#[tokio::test]
async fn parameters_that_do_not_fit_are_refused_and_leave_nothing_behind() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start_alone().await;
    for (bad, says) in [
        ("LaunchTemplateId=lt-xyz", "Parameter 'LaunchTemplateId' failed to satisfy constraint: a launch template ID"),
        ("AmisToKeep=1", "Parameter 'AmisToKeep' failed to satisfy constraint: at least 2"),
        ("VersionsToKeep=1", "Parameter 'VersionsToKeep' failed to satisfy constraint"),
        ("App=", "Parameter 'App' failed to satisfy constraint"),
        ("RefreshTimeout=86400", "Parameter 'RefreshTimeout' must be a number not greater than 14400"),
    ] {
        let run = aws.deploy_stack("refused", &["AsgName=web", bad]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{bad} was taken");
        assert!(stderr.contains("ValidationError") && stderr.contains(says), "{bad}: {stderr}");
    }
    let stacks = aws.aws_json(&["cloudformation", "list-stacks"]);
    assert!(stacks["StackSummaries"].as_array().unwrap().is_empty(), "no stack is left: {stacks}");
    let projects = aws.aws_json(&["codebuild", "list-projects"]);
    assert!(projects["projects"].as_array().unwrap().is_empty(), "no project: {projects}");
    let groups = aws.aws_json(&["logs", "describe-log-groups"]);
    assert!(groups["logGroups"].as_array().unwrap().is_empty(), "no log group: {groups}");
}

#[test]
fn every_buildspec_variable_is_a_parameter_with_the_buildspecs_default() {
    let t = template();
    let vars = buildspec_variables();
    let passed: Vec<&str> = t["Resources"]["Project"]["Properties"]["Environment"]["EnvironmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    expected.push("DEPLOY_NOTIFY_TOPIC");
    assert_eq!(passed, expected, "the project passes exactly the buildspec's variables, and the stack's topic");
    for (name, default) in &vars {
        let parameter = parameter_of(name);
        let spec = &t["Parameters"][&parameter];
        assert!(spec.is_object(), "{name} has no parameter {parameter}");
        let given = match &spec["Default"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(&given, default, "{parameter}'s default is the buildspec's {name}");
        let env = t["Resources"]["Project"]["Properties"]["Environment"]["EnvironmentVariables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["Name"] == name.as_str())
            .unwrap();
        assert_eq!(env["Value"]["Ref"], parameter.as_str(), "{name} comes from {parameter}");
    }
}

#[test]
fn the_project_timeout_covers_the_bake_the_verification_and_the_refresh() {
    let t = template();
    assert_eq!(t["Resources"]["Project"]["Properties"]["TimeoutInMinutes"]["Ref"], "BuildTimeoutInMinutes");
    let minutes = t["Parameters"]["BuildTimeoutInMinutes"]["Default"].as_u64().unwrap();
    assert_eq!(t["Parameters"]["BuildTimeoutInMinutes"]["MaxValue"], 2160, "CodeBuild's maximum, for a deploy in waves");
    let max = |p: &str| t["Parameters"][p]["MaxValue"].as_u64().unwrap_or_else(|| panic!("{p} needs a MaxValue"));
    // The bake's budget: Packer's instance, the image and its copies to other Regions.
    let (bake, margin) = (90 * 60, 30 * 60);
    let needed = bake + max("VerifyTimeout") + max("RefreshTimeout") + margin;
    assert!(minutes * 60 >= needed, "the project times out after {minutes} min, but a build may need {} min", needed / 60);
    assert!(minutes <= 2160, "CodeBuild's limit is 2160 minutes");
}
