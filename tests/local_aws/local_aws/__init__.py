"""The local AWS: moto 5.2.5, extended with the calls the deploy tools need and moto lacks.

moto dispatches a call to the method named after the action, in snake_case, on the service's
response class; a method returns an ``ActionResult`` that moto serialises with botocore's
model of the reply, and errors are ``ServiceException`` subclasses. State lives in moto's
backends. ``install()`` patches all of this in place, so the stock ``moto.server`` serves the
extended API. One module a concern, each saying in its docstring what it adds: ``core`` (the
lock, call counts, denied actions, authorisations, paging), ``templates``, ``amis``, ``regions``
(copies and DescribeRegions), ``image_uses`` (image references, instance types by
requirements), ``verification`` (status checks, SSM, target health, RunInstances' checks),
``refreshes``, ``alarms`` (CloudWatch alarms a refresh watches), ``consistency`` (EC2's eventual consistency, when asked), ``metering`` (latency and EC2's request buckets, when asked), ``accounts`` (keys for other accounts, roles that cannot be
assumed), ``sharing`` (AMIs shared with other accounts, seen and launched there), ``stacks`` (CloudFormation: parameter constraints, the CodeBuild project and
the bucket's settings and policy) and ``controls`` (what server.py's /_local_aws/ routes call). What it adds, kept
as close to AWS as we can make it:

EC2
  * DeleteLaunchTemplateVersions: AWS's reply shape (successful and unsuccessful lists, at
    most 200 versions a call, the default version refused). Deleted versions vanish from
    describes and lookups; version numbers keep counting up and are never reused.
  * CreateLaunchTemplateVersion copies SourceVersion's data, as AWS does, and honours ClientToken: a retried create with the same token
    returns the version the first one made, instead of making a second.
  * CreateImage takes TagSpecifications for the snapshots it makes, as AWS does.
  * DescribeLaunchTemplates with LaunchTemplateIds naming a template that does not exist
    answers InvalidLaunchTemplateId.NotFound, as AWS does (moto answers an empty list).
  * DescribeLaunchTemplateVersions and DescribeImages page with MaxResults / NextToken (moto
    returns everything, or silently cuts a list at 15).
  * AMIs are EBS-backed (moto makes an EBS root snapshot for each, but calls them
    "standard"), so Packer's amazon-ebs builder takes one as its source.
  * DescribeImages leaves out disabled AMIs unless IncludeDisabled=true (asked for by ID
    too), and deprecated AMIs of other owners unless IncludeDeprecated=true (an owner sees
    its own deprecated AMIs always), as AWS does; moto lists every AMI. Each image reports
    `Public` (from its launch permissions), `DeregistrationProtection` and `DeprecationTime`.
  * Deregistration protection: EnableImageDeregistrationProtection (WithCooldown) and
    DisableImageDeregistrationProtection set the image's DeregistrationProtection
    (`enabled-with-cooldown`, `enabled-without-cooldown`, `disabled`; turned off after being
    enabled with the cooldown, it reads `disabled-until <time 24 h on>` and still protects
    until then). DeregisterImage of a protected AMI is refused with OperationNotPermitted (AWS
    does not document the code; the tools never rely on it, they read the field first).
  * Deprecation: EnableImageDeprecation (DeprecateAt, rounded to the nearest minute, as AWS
    does) and DisableImageDeprecation set and clear the image's DeprecationTime.
  * DescribeImageReferences (1 to 10 ImageIds, IncludeAllResourceTypes or ResourceTypes,
    paged): instances that run an image (by default in any state but terminated; the
    `state-name` option narrows it), launch templates whose newest versions (the
    `version-depth` option, default 10) name it, and SSM parameters of data type
    `aws:ec2:image` whose value is its ID, each with its ARN; Image Builder image and container
    recipes a test registered (see image_uses.py).
  * DescribeLaunchTemplateVersions with ResolveAlias=true answers a `resolve:ssm:NAME[:V]`
    ImageId with the parameter's value, as AWS does; without it, the alias as stored.
  * Permissions AWS checks on the caller's behalf inside a call (DescribeImageReferences
    reads SSM parameters, ResolveAlias reads the parameter) are recorded as authorisations,
    by Region, for the IAM policy tests (`/_local_aws/authorized`).
  * LastLaunchedTime: an image records each launch from it (RunInstances, an Auto Scaling
    group's launches, a refresh's), as AWS does. AWS reports a launch up to about 24 hours
    late; LOCAL_AWS_LAST_LAUNCH_DELAY (seconds, default 0) delays it here too.
  * DeregisterImage with DeleteAssociatedSnapshots=true deletes the image's snapshots in the
    same call and answers DeleteSnapshotResults, one {SnapshotId, ReturnCode} per snapshot:
    `success`; `skipped` when another registered image still uses the snapshot;
    `missing-permissions` when the caller may not DeleteSnapshot (a denied
    ec2:DeleteSnapshot, see the controls). The image is deregistered either way, as on AWS.
    The snapshot deletes are recorded as ec2:DeleteSnapshot authorisations.
  * RegisterImage honours BlockDeviceMappings' Ebs.SnapshotId: the image is made from that
    snapshot (so two images can share one, as AWS allows), not from a new one.
  * CopyImage (moto's, which copies the image and makes a new snapshot in the destination
    Region) leaves the copy `pending` for LOCAL_AWS_COPY_SECONDS (default 1) before it turns
    `available`, as AWS's copies take minutes; takes TagSpecifications for the image and its
    snapshots, and CopyImageTags (the source's own tags, which AWS otherwise leaves behind).
  * Images report SourceImageId and SourceImageRegion, as AWS does for CreateImage (the
    instance's AMI) and CopyImage (the AMI copied) and not for RegisterImage.
  * DescribeRegions lists the Regions of the caller's partition only (an aws account cannot
    see GovCloud or China), with AWS's OptInStatus: `opt-in-not-required` for the Regions
    launched before 20 March 2019, `opted-in` for the later ones (the local account has
    enabled every one, except those named in LOCAL_AWS_NOT_OPTED_IN, comma-separated, which
    read `not-opted-in` and are left out unless AllRegions=true). moto lists every partition,
    and calls some opt-in Regions default ones.
  * AMIs created one after another get strictly increasing CreationDates. EC2 reports them to
    the second, and on AWS an image takes minutes to make, so two never share one; here
    they are made in milliseconds, so each is dated at least a second after the previous
    one (a burst of N images runs up to N seconds ahead of the clock).

Auto Scaling
  * StartInstanceRefresh, DescribeInstanceRefreshes (newest first, MaxRecords, NextToken),
    CancelInstanceRefresh, RollbackInstanceRefresh. A refresh moves through Pending,
    InProgress (and Baking when BakeTime is set) to a terminal status over time, really
    replacing the group's instances with ones launched from the launch template version in
    force (the DesiredConfiguration's, if given), honouring SkipMatching. Instances are
    replaced in batches, as AWS does: as many at once as MinHealthyPercentage (default 90)
    lets be out of service, of the group's desired capacity, at least one, each terminated
    before its replacement is launched (capacity dips, as on AWS); with MaxHealthyPercentage
    above 100, up to that much more than the desired capacity (at least one instance) is
    launched first and as many old instances go once it is in service, so capacity never
    drops. Between the halves of a batch a describe sees the group below (or above) its
    desired capacity. A step of the
    engine stands for a minute of AWS's time: each batch warms up for InstanceWarmup, and at
    each of CheckpointPercentages below 100 the refresh waits CheckpointDelay (batches are cut
    short to land on a checkpoint). One active refresh per group. With AutoRollback, a failing refresh goes through RollbackInProgress to
    RollbackSuccessful and the group is back on the instances and configuration it had.
  * DescribeScalingActivities reports the launches, terminations and failures of refreshes.

Test controls (plain HTTP on the same port, under /_local_aws/, see server.py)
  * which calls were made, by action and Region (for call-count tests and IAM policy checks);
  * make a group's next refresh fail, or be cancelled, after N replacements;
  * date an image back by some days (an image's CreationDate cannot be set through the API);
  * hold an image in a state (`pending`, `failed`, ...) until told otherwise, as a slow or
    failed copy;
  * make a Region's DeregisterImage behave as an endpoint older than DeleteAssociatedSnapshots;
  * deny actions in a Region, as a missing IAM permission does;
  * what was published to an SNS topic (a deploy's outcome);
  * AWS's pace in a Region: a latency per call and EC2's request buckets (metering.py), a
    bucket emptied as other clients would leave it, and the calls throttled.

The pace of a refresh is one step every LOCAL_AWS_REFRESH_STEP seconds (default 0.3).
"""

from __future__ import annotations

from . import accounts, alarms, amis, consistency, core, image_uses, refreshes, regions, sharing, stacks, templates, verification
from .controls import age_image, authorized, calls, deny, first_call, old_deregister, reset_calls, set_fault, sns_sent
from .regions import set_image_state

__all__ = [
    "age_image", "authorized", "calls", "deny", "first_call", "image_uses", "install", "old_deregister",
    "reset_calls", "set_fault", "set_image_state", "sns_sent", "verification",
]

_installed = False


def install() -> None:
    """Patches moto in place, each part its own concern. Safe to call more than once."""
    global _installed
    if _installed:
        return
    _installed = True
    # consistency last: it wraps the calls the others patched.
    for part in (core, accounts, alarms, templates, amis, sharing, regions, image_uses, verification, refreshes, stacks, consistency):
        part.install()
