//! Never delete what is in use; bad input changes nothing.

use deploy_tests::{refresh_config, workdir, LocalAws, World};

#[tokio::test]
async fn prune_keeps_older_amis_that_are_in_use_and_says_why() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 6).build().await;
    // amis[0]: an instance runs it. amis[1]: the default version of a template names it.
    // amis[2]: a version kept in a template a group uses (not the group's own version).
    // amis[3]: a stopped instance runs it. amis[4]: unused. amis[5]: the newest.
    aws.ec2().run_instances().image_id(&amis[0]).min_count(1).max_count(1).send().await.unwrap();
    aws.launch_template("other", &amis[1]).await;
    let lt = aws.launch_template("app", &amis[5]).await;
    aws.add_versions(&lt, &amis[2], 1).await;
    aws.group("web", &lt, "1", 1).await;
    let stopped = aws.ec2().run_instances().image_id(&amis[3]).min_count(1).max_count(1).send().await.unwrap();
    let stopped_id = stopped.instances()[0].instance_id().unwrap().to_owned();
    aws.ec2().stop_instances().instance_ids(&stopped_id).send().await.unwrap();
    let dir = workdir();

    let run = aws.run("prune-amis", dir.path(), &["main", "1", "-o", "json"]).expect(0);
    let json = run.json();
    let plan = json["plan"].as_array().unwrap();
    let action = |i: usize| plan[i]["action"].as_str().unwrap().to_owned();
    let reason = |i: usize| plan[i]["reason"].as_str().unwrap().to_owned();
    assert_eq!((0..6).map(action).collect::<Vec<_>>(), ["keep", "keep", "keep", "keep", "delete", "keep"]);
    assert!(reason(0).contains("runs it"), "{}", reason(0));
    assert!(reason(1).contains("(default)") || reason(1).contains("(latest)"), "{}", reason(1));
    assert!(reason(2).contains("kept for group web"), "{}", reason(2));
    assert!(reason(3).contains("stopped"), "{}", reason(3));
    let mut left = amis.clone();
    left.remove(4);
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);
}

#[tokio::test]
async fn delete_ami_refuses_an_ami_in_use_unless_forced() {
    let aws = LocalAws::start().await;
    let (amis, _) = aws.app_world(1, 0, "$Latest", 1).await;
    let dir = workdir();

    let run = aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(1);
    let line = run.error_line("delete-ami");
    assert!(line.contains("in use") && line.contains("--force"), "{line}");
    assert_eq!(aws.branch_amis("main").await, amis);

    aws.run("delete-ami", dir.path(), &["--force", &amis[0]]).expect(0);
    assert!(aws.branch_amis("main").await.is_empty());
}

#[tokio::test]
async fn access_denied_is_not_retried_and_names_the_permission() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    aws.deny(&["ec2:DeregisterImage"]);
    aws.reset_calls();
    let dir = workdir();
    let run = aws.run("delete-ami", dir.path(), &["--force", &amis[0]]).expect(1);
    let line = run.error_line("delete-ami");
    assert!(line.contains("UnauthorizedOperation") && line.contains("ec2:DeregisterImage"), "{line}");
    assert!(line.contains("hint:"), "{line}");
    assert_eq!(aws.calls().get("ec2:DeregisterImage"), Some(&1), "not retried");
    assert_eq!(aws.branch_amis("main").await, amis);
}

#[tokio::test]
async fn retry_settings_from_the_environment_are_checked() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let dir = workdir();
    for bad in ["0", "abc"] {
        let run = aws.tool("latest-ami", dir.path()).arg("main").env("AWS_MAX_ATTEMPTS", bad).expect(2);
        assert!(run.error_line("latest-ami").contains("AWS_MAX_ATTEMPTS"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line, no panic: {}", run.stderr);
    }
    let run = aws.tool("latest-ami", dir.path()).arg("main").env("AWS_RETRY_MODE", "legacy").env("AWS_MAX_ATTEMPTS", "2").expect(0);
    assert_eq!(run.stdout.trim(), amis[0]);
    // A warning says it is one, after the tool's name; an info line is the bare message.
    let warning = run.stderr.lines().find(|l| l.contains("legacy")).unwrap_or_else(|| panic!("a warning: {}", run.stderr));
    assert!(warning.starts_with("latest-ami: warning: AWS_RETRY_MODE=legacy"), "{warning}");
    let info = run.stderr.lines().find(|l| l.contains("newest AMI")).unwrap_or_else(|| panic!("an info line: {}", run.stderr));
    assert!(info.starts_with("newest AMI of branch main"), "{info}");
}

#[tokio::test]
async fn no_credentials_is_one_clear_line() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let run = aws.tool("latest-ami", dir.path()).arg("main").env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").expect(1);
    let line = run.error_line("latest-ami");
    assert!(line.to_lowercase().contains("credentials"), "{line}");
    assert!(line.contains("hint:"), "{line}");
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_fails_within_the_timeouts() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < end {
            if let Ok((c, _)) = listener.accept() {
                conns.push(c);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let started = std::time::Instant::now();
    let out = aws
        .tool("latest-ami", dir.path())
        .args(["main", "--attempt-timeout", "0.5", "--operation-timeout", "2"])
        .env("AWS_ENDPOINT_URL", &url)
        .output();
    let elapsed = started.elapsed();
    let run = out.expect(1);
    assert!(elapsed < std::time::Duration::from_secs(10), "took {elapsed:?}");
    assert!(run.error_line("latest-ami").contains("timeout") || run.stderr.contains("timed out"), "{}", run.stderr);
    drop(held);

    // Nothing listening at all: refused at once.
    let closed = { std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap() };
    aws.tool("latest-ami", dir.path()).arg("main").env("AWS_ENDPOINT_URL", format!("http://{closed}")).expect(1);
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_before_anything_is_sent() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let run = aws.tool("latest-ami", dir.path()).arg("main").env("AWS_ENDPOINT_URL", "http://192.0.2.10:5000").expect(2);
    assert!(run.error_line("latest-ami").contains("plain-http"), "{}", run.stderr);
}

/// The first bytes a tool sends to an endpoint (a listener that answers nothing).
fn first_bytes_sent(aws: &LocalAws, dir: &std::path::Path, scheme: &str) -> Vec<u8> {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).unwrap();
        buf.to_vec()
    });
    aws.tool("latest-ami", dir)
        .args(["main", "--attempt-timeout", "2"])
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_MAX_ATTEMPTS", "1")
        .expect(1);
    reader.join().unwrap()
}

#[tokio::test]
async fn https_endpoints_get_tls_and_only_http_ones_go_without() {
    // TLS is set up only when a request needs it (no CA bundle is read for the local AWS);
    // an https endpoint must still get a TLS handshake, never a plain request.
    let aws = LocalAws::start().await;
    let dir = workdir();
    let tls = first_bytes_sent(&aws, dir.path(), "https");
    assert_eq!(tls[0], 0x16, "not a TLS handshake record: {tls:?}");
    assert_eq!(tls[1], 0x03, "not a TLS version: {tls:?}");
    assert_eq!(first_bytes_sent(&aws, dir.path(), "http"), b"POST");
}

#[tokio::test]
async fn credentials_never_appear_in_any_output() {
    let aws = LocalAws::start().await;
    let (amis, lt) = aws.app_world(3, 0, "1", 1).await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    const SECRET: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY";
    const TOKEN: &str = "FwoGZXIvYXdzSESSIONTOKENxyz";
    let runs: Vec<Vec<&str>> = vec![
        vec!["latest-ami", "main"],
        vec!["latest-ami", "nosuchbranch"],
        vec!["prune-amis", "main", "1", "--dry-run"],
        vec!["delete-ami", "ami-0123456789abcdef0"],
        vec!["bump-launch-template", &lt, &amis[2], "2"],
        vec!["bump-launch-template", "lt-0123456789abcdef0", &amis[2], "2"],
        vec!["instance-refresh", &cfg, "web", "--interval", "0.1"],
        vec!["instance-refresh", &cfg, "nosuchgroup"],
    ];
    for args in runs {
        for verbosity in ["-vv", "-v", ""] {
            let verbosity_arg = (!verbosity.is_empty()).then_some(verbosity);
            let out = aws
                .tool(args[0], dir.path())
                .args(&args[1..])
                .args(verbosity_arg)
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .env("AWS_SESSION_TOKEN", TOKEN)
                .output();
            let all = format!("{}{}", out.stdout, out.stderr);
            assert!(!all.contains(SECRET) && !all.contains(TOKEN), "{args:?} {verbosity} printed a credential:\n{all}");
            assert!(!all.contains(&SECRET[..12]) && !all.contains(&TOKEN[..12]), "{args:?} {verbosity} printed part of a credential");
        }
    }
}
