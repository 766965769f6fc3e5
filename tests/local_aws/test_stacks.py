"""CloudFormation: parameter constraints, the CodeBuild project resource."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import CURRENT, another_region, client


@pytest.fixture()
def url(url):
    """The test's Region, or the next of its server's where moto has CodeBuild (not in every
    Region the tests draw from)."""
    from moto.codebuild.models import codebuild_backends

    while CURRENT["region"] not in codebuild_backends["123456789012"].regions:
        CURRENT["region"] = another_region()
    return url


STACK_TEMPLATE = """
Parameters:
  Keep: {Type: Number, Default: 5, MinValue: 2}
  Id: {Type: String, Default: '', AllowedPattern: '^(lt-[0-9a-f]{8})?$'}
  Name: {Type: String, Default: web, MinLength: 1, ConstraintDescription: a name}
Resources:
  Project:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: !Sub '${Name}-build'
      ServiceRole: arn:aws:iam::123456789012:role/build
      Source: {Type: GITHUB, Location: 'https://github.com/acme/app.git', BuildSpec: buildspec.yml}
      Artifacts: {Type: NO_ARTIFACTS}
      Environment:
        Type: LINUX_CONTAINER
        ComputeType: BUILD_GENERAL1_SMALL
        Image: aws/codebuild/amazonlinux-x86_64-standard:5.0
        EnvironmentVariables: [{Name: KEEP, Value: !Ref Keep}]
      Triggers:
        Webhook: true
        FilterGroups: [[{Type: EVENT, Pattern: PUSH}]]
Outputs:
  Arn: {Value: !GetAtt Project.Arn}
"""


def test_stack_parameters_are_checked_as_cloudformation_does_and_nothing_is_made(url):
    cfn = client(url, "cloudformation")
    for params, says in [
        ([{"ParameterKey": "Keep", "ParameterValue": "1"}], "Parameter 'Keep' must be a number not less than 2"),
        ([{"ParameterKey": "Keep", "ParameterValue": "two"}], "Parameter 'Keep' must be a number"),
        ([{"ParameterKey": "Id", "ParameterValue": "lt-x"}], "Parameter 'Id' must match pattern ^(lt-[0-9a-f]{8})?$"),
        ([{"ParameterKey": "Name", "ParameterValue": ""}], "Parameter 'Name' failed to satisfy constraint: a name"),
    ]:
        with pytest.raises(ClientError) as e:
            cfn.create_stack(StackName="refused", TemplateBody=STACK_TEMPLATE, Parameters=params)
        assert e.value.response["Error"]["Code"] == "ValidationError"
        assert e.value.response["Error"]["Message"] == says
        with pytest.raises(ClientError):
            cfn.create_change_set(StackName="refused", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=STACK_TEMPLATE, Parameters=params)
    assert cfn.list_stacks()["StackSummaries"] == []
    assert client(url, "codebuild").list_projects()["projects"] == []


def test_a_codebuild_project_resource_is_made_and_removed_with_its_stack(url):
    cfn, codebuild = client(url, "cloudformation"), client(url, "codebuild")
    cfn.create_change_set(StackName="p", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=STACK_TEMPLATE)
    cfn.execute_change_set(ChangeSetName="c", StackName="p")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="p")["Stacks"][0]["Outputs"]}
    project = codebuild.batch_get_projects(names=["web-build"])["projects"][0]
    assert outputs["Arn"] == project["arn"]
    assert project["environment"]["environmentVariables"] == [{"name": "KEEP", "value": "5"}]
    assert project["source"]["buildspec"] == "buildspec.yml"
    assert project["webhook"]["filterGroups"] == [[{"type": "EVENT", "pattern": "PUSH"}]]
    cfn.delete_stack(StackName="p")
    assert codebuild.batch_get_projects(names=["web-build"])["projects"] == []
