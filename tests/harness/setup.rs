//! The world most tests start from, built in one expression: a builder instance, `n` AMIs of a
//! branch baked from it (oldest first, tagged as Packer tags them), and, when asked, a launch
//! template on one of them (extra versions on the oldest) and a group on the template.
//!
//! ```ignore
//! let w = aws.world("main", 2).template("app").group("web", "$Latest", 1).build().await;
//! aws.run("bump-launch-template", dir, &[&w.template, &w.amis[1], "2"]);
//! ```

use crate::LocalAws;

/// What [`Setup::build`] made.
pub struct World {
    /// The instance the AMIs were baked from (bake more with `aws.bake(&w.builder, ...)`).
    pub builder: String,
    /// The branch's AMIs, oldest first.
    pub amis: Vec<String>,
    /// The launch template's ID, empty when none was asked for.
    pub template: String,
}

/// A world to build: see [`LocalAws::world`].
#[must_use = "a Setup builds nothing until .build().await"]
pub struct Setup<'a> {
    aws: &'a LocalAws,
    branch: String,
    n: usize,
    template: Option<(String, usize, bool)>,
    versions: usize,
    group: Option<(String, String, i32)>,
}

impl LocalAws {
    /// `n` AMIs of `branch`, to be given a template and a group.
    pub fn world(&self, branch: &str, n: usize) -> Setup<'_> {
        Setup { aws: self, branch: branch.to_owned(), n, template: None, versions: 0, group: None }
    }
}

impl Setup<'_> {
    /// A launch template `name` (t3.micro) on the oldest AMI.
    pub fn template(self, name: &str) -> Self {
        self.template_on(name, 0)
    }

    /// A launch template `name` on `amis[index]`.
    pub fn template_on(mut self, name: &str, index: usize) -> Self {
        self.template = Some((name.to_owned(), index, false));
        self
    }

    /// A launch template `name` on the oldest AMI with an instance profile (what verify-ami's
    /// SSM check needs).
    pub fn profiled(mut self, name: &str) -> Self {
        self.template = Some((name.to_owned(), 0, true));
        self
    }

    /// `n` more template versions (2, 3, ...), each on the oldest AMI.
    pub fn versions(mut self, n: usize) -> Self {
        self.versions = n;
        self
    }

    /// A group `name` of `size` on the template's `version`.
    pub fn group(mut self, name: &str, version: &str, size: i32) -> Self {
        self.group = Some((name.to_owned(), version.to_owned(), size));
        self
    }

    pub async fn build(self) -> World {
        let aws = self.aws;
        let builder = aws.builder_instance().await;
        let amis = aws.bake(&builder, &self.branch, self.n).await;
        let mut template = String::new();
        if let Some((name, index, profiled)) = &self.template {
            template =
                if *profiled { aws.profiled_template(name, &amis[*index]).await } else { aws.launch_template(name, &amis[*index]).await };
            aws.add_versions(&template, &amis[0], self.versions).await;
        }
        if let Some((name, version, size)) = &self.group {
            assert!(!template.is_empty(), "a group needs a template: call .template() first");
            aws.group(name, &template, version, *size).await;
        }
        World { builder, amis, template }
    }
}
