//! The pipeline stack (scripts/cloudformation/pipeline.yaml) on the local AWS: deployed and
//! queried with the AWS CLI, exactly as the README's command does it, and the template and
//! buildspec read as JSON (YAML with CloudFormation's short tags, through cfn-lint's loader in
//! the local AWS's venv).

use std::path::Path;
use std::process::{Command, Output};

use crate::{awscli_dir, root, venv_python, LocalAws};

/// A YAML file (CloudFormation's `!Ref` and friends as `{"Ref": ...}`) as JSON.
pub fn yaml(path: &Path) -> serde_json::Value {
    let code = "import json, sys\nfrom cfnlint.decode import cfn_yaml\nprint(json.dumps(cfn_yaml.load(sys.argv[1])))";
    let out = Command::new(venv_python()).args(["-c", code]).arg(path).output().expect("running the venv's python");
    assert!(out.status.success(), "reading {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The template, as JSON.
pub fn template() -> serde_json::Value {
    yaml(&root().join("scripts/cloudformation/pipeline.yaml"))
}

/// buildspec.yml's variables, name -> default, in the file's order.
pub fn buildspec_variables() -> Vec<(String, String)> {
    let spec = yaml(&root().join("buildspec.yml"));
    spec["env"]["variables"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect()
}

/// A buildspec variable's parameter in the template: BRANCH is Branch, AMIS_TO_KEEP AmisToKeep.
pub fn parameter_of(variable: &str) -> String {
    variable.split('_').map(|w| w[..1].to_owned() + &w[1..].to_lowercase()).collect::<Vec<_>>().join("")
}

impl LocalAws {
    /// The AWS CLI with `args`, against this local AWS (and this test's Region).
    pub fn aws_cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(awscli_dir().join("aws"));
        self.aws_env(&mut cmd);
        cmd.env("AWS_DEFAULT_REGION", self.region).args(args).output().expect("running the AWS CLI")
    }

    /// The AWS CLI's JSON answer to `args`, which must succeed.
    pub fn aws_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.aws_cli(&[args, &["--output", "json"]].concat());
        assert!(out.status.success(), "aws {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `aws cloudformation deploy` of the pipeline stack with the README's parameters and
    /// `overrides` (Key=Value, which win).
    pub fn deploy_stack(&self, name: &str, overrides: &[&str]) -> Output {
        let template = root().join("scripts/cloudformation/pipeline.yaml");
        let mut args = vec![
            "cloudformation",
            "deploy",
            "--template-file",
            template.to_str().unwrap(),
            "--stack-name",
            name,
            "--capabilities",
            "CAPABILITY_IAM",
            "--parameter-overrides",
            "GitHubRepository=acme/app",
            "ConnectionArn=arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
        ];
        args.extend_from_slice(overrides);
        self.aws_cli(&args)
    }

    /// The stack's outputs, key -> value.
    pub fn stack_outputs(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        let v = self.aws_json(&["cloudformation", "describe-stacks", "--stack-name", name]);
        v["Stacks"][0]["Outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| (o["OutputKey"].as_str().unwrap().to_owned(), o["OutputValue"].as_str().unwrap().to_owned()))
            .collect()
    }
}
