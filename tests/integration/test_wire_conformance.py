"""Every Lambda and Scheduler operation lambent serves, checked against botocore's model on the wire:
each raw response body must match the operation's output shape exactly (no unknown members, right
types and enum values, required members present), and each error code must be one the operation
declares (or one of AWS's common errors). See shape_check.py."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness import ACCESS_KEY, ROLE, SECRET_KEY, Server, create_function, send_signed, unique, zip_of
from shape_check import ShapeRecorder
from test_logs_api import LOGS_OPERATIONS

from lambent.api.models import client as model_client
from lambent.api.services import table

APP = {"app.py": "def handler(e, c):\n    return e\n"}

LAMBDA_OPERATIONS = {
    "CreateFunction", "GetFunction", "GetFunctionConfiguration", "ListFunctions", "UpdateFunctionCode",
    "UpdateFunctionConfiguration", "DeleteFunction", "Invoke", "InvokeAsync", "GetAccountSettings",
    "PutFunctionConcurrency", "GetFunctionConcurrency", "DeleteFunctionConcurrency", "TagResource",
    "UntagResource", "ListTags", "PublishVersion", "ListVersionsByFunction", "CreateAlias", "GetAlias",
    "ListAliases", "UpdateAlias", "DeleteAlias", "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig",
    "GetFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs", "DeleteFunctionEventInvokeConfig",
}
SCHEDULER_OPERATIONS = {
    "CreateSchedule", "GetSchedule", "UpdateSchedule", "ListSchedules", "DeleteSchedule", "CreateScheduleGroup",
    "GetScheduleGroup", "ListScheduleGroups", "DeleteScheduleGroup", "TagResource", "UntagResource",
    "ListTagsForResource",
}

LAMBENT_OPERATIONS = {"CreateDeployment", "GetDeployment", "ListDeployments", "StopDeployment",
                      "GetUsage", "ListAsyncEventQueues", "ListUndeliverableRecords", "RedriveUndeliverableRecords",
                      "AttachSubnet", "DetachSubnet"}
POLICY_OPERATIONS = {"AddPermission", "GetPolicy", "RemovePermission"}
IAM_OPERATIONS = {
    "CreateUser", "GetUser", "ListUsers", "TagUser", "ListUserTags", "UntagUser", "CreateAccessKey", "ListAccessKeys",
    "UpdateAccessKey", "DeleteAccessKey", "PutUserPolicy", "GetUserPolicy", "ListUserPolicies", "DeleteUserPolicy",
    "CreateRole", "GetRole", "ListRoles", "TagRole", "ListRoleTags", "UntagRole", "UpdateAssumeRolePolicy",
    "PutRolePolicy", "GetRolePolicy", "ListRolePolicies", "DeleteRolePolicy", "ListInstanceProfilesForRole",
    "CreatePolicy", "GetPolicy", "GetPolicyVersion", "CreatePolicyVersion", "ListPolicyVersions",
    "SetDefaultPolicyVersion", "DeletePolicyVersion", "ListPolicies", "AttachRolePolicy", "ListAttachedRolePolicies",
    "DetachRolePolicy", "AttachUserPolicy", "ListAttachedUserPolicies", "DetachUserPolicy", "DeletePolicy",
    "DeleteRole", "DeleteUser",
}
STS_OPERATIONS = {"GetCallerIdentity", "AssumeRole"}
EC2_OPERATIONS = {
    "CreateVpc", "DescribeVpcs", "CreateSubnet", "DescribeSubnets", "CreateSecurityGroup", "DescribeSecurityGroups",
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress", "CreateNatGateway", "DescribeNatGateways", "DeleteNatGateway", "CreateVpcEndpoint",
    "DescribeVpcEndpoints", "DeleteVpcEndpoints", "DescribeNetworkInterfaces", "DeleteSecurityGroup", "DeleteSubnet",
    "DeleteVpc",
}
CLOUDWATCH_OPERATIONS = {"PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics"}
XRAY_OPERATIONS = {"PutTraceSegments", "GetTraceSummaries", "BatchGetTraces"}
#: service -> the operations the tests below exercise on the wire
CASES = {"lambda": LAMBDA_OPERATIONS | POLICY_OPERATIONS, "scheduler": SCHEDULER_OPERATIONS,
         "lambent": LAMBENT_OPERATIONS, "iam": IAM_OPERATIONS, "sts": STS_OPERATIONS, "logs": LOGS_OPERATIONS,
         "ec2": EC2_OPERATIONS, "monitoring": CLOUDWATCH_OPERATIONS, "xray": XRAY_OPERATIONS}


def test_every_registered_operation_has_a_wire_case() -> None:
    """Derived from the registries: an operation a handler serves must be checked on the wire here."""
    missing = {
        name: sorted(service.operations.implemented - CASES.get(name, set()))
        for name, service in table().items()
        if service.operations.implemented - CASES.get(name, set())
    }
    assert missing == {}, f"registered operations without a wire case: {missing}"


def expect_error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return str(exc.value.response["Error"]["Code"])


def test_lambda_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    lam = rec.attach(server.client())
    name = unique("wire")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of(APP)}, Description="d", Timeout=5, MemorySize=256,
                        Environment={"Variables": {"AA": "1"}}, Tags={"team": "x"},
                        DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.get_function(FunctionName=name)
    lam.get_function_configuration(FunctionName=name)
    lam.list_functions(MaxItems=5)
    lam.list_functions(FunctionVersion="ALL")
    lam.update_function_configuration(FunctionName=name, Description="e", Environment={"Variables": {"BB": "2"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.update_function_code(FunctionName=name, ZipFile=zip_of({**APP, "x.txt": "1"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.invoke(FunctionName=name, Payload=b'{"a": 1}', LogType="Tail")
    lam.invoke(FunctionName=name, Payload=b"{}", InvocationType="Event")
    lam.invoke(FunctionName=name, Payload=b"{}", InvocationType="DryRun")
    lam.invoke_async(FunctionName=name, InvokeArgs=b"{}")
    lam.get_account_settings()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    lam.get_function_concurrency(FunctionName=name)
    lam.delete_function_concurrency(FunctionName=name)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"k": "v"})
    lam.list_tags(Resource=arn)
    lam.untag_resource(Resource=arn, TagKeys=["k"])
    v1 = lam.publish_version(FunctionName=name, Description="v1")["Version"]
    lam.update_function_code(FunctionName=name, ZipFile=zip_of({**APP, "x.txt": "2"}), Publish=True)
    lam.list_versions_by_function(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1,
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    lam.get_alias(FunctionName=name, Name="live")
    lam.list_aliases(FunctionName=name)
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1, DestinationConfig={
        "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:failures"}})
    lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=0)
    lam.get_function_event_invoke_config(FunctionName=name)
    lam.list_function_event_invoke_configs(FunctionName=name)
    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    # errors: each must be declared by its operation
    missing = f"{name}-missing"
    assert expect_error(lam.get_function, FunctionName=missing) == "ResourceNotFoundException"
    assert expect_error(lam.invoke, FunctionName=missing, Payload=b"{}") == "ResourceNotFoundException"
    assert expect_error(lam.invoke, FunctionName=name, Payload=b"not json") == "InvalidRequestContentException"
    assert expect_error(lam.create_function, FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of(APP)}) == "ResourceConflictException"
    assert expect_error(lam.create_function, FunctionName=unique("wire"), Runtime="python3.11", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": b"not a zip"}) == "InvalidParameterValueException"
    assert expect_error(lam.publish_version, FunctionName=name, RevisionId="stale") == "PreconditionFailedException"
    assert expect_error(lam.delete_function, FunctionName=name, Qualifier="2") == "ResourceConflictException"
    assert expect_error(lam.get_alias, FunctionName=name, Name="nope") == "ResourceNotFoundException"
    assert expect_error(lam.get_function_event_invoke_config, FunctionName=name, Qualifier="live") == "ResourceNotFoundException"
    assert expect_error(lam.put_function_concurrency, FunctionName=name,
                        ReservedConcurrentExecutions=100000) == "InvalidParameterValueException"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert expect_error(lam.invoke, FunctionName=name, Payload=b"{}") == "TooManyRequestsException"
    assert expect_error(lam.invoke, FunctionName=name, Payload=b"x" * (6 * 1024 * 1024 + 1)) == "RequestTooLargeException"
    lam.delete_function_event_invoke_config(FunctionName=name)
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name)

    assert LAMBDA_OPERATIONS <= rec.operations(), sorted(LAMBDA_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_scheduler_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    lam = server.client()
    sched = rec.attach(server.client("scheduler"))
    target = create_function(lam, APP)
    fn_arn = lam.get_function(FunctionName=target)["Configuration"]["FunctionArn"]
    group = unique("grp")
    group_arn = sched.create_schedule_group(Name=group, Tags=[{"Key": "k", "Value": "v"}])["ScheduleGroupArn"]
    sched.get_schedule_group(Name=group)
    sched.list_schedule_groups()
    sched.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "k2", "Value": "v2"}])
    sched.list_tags_for_resource(ResourceArn=group_arn)
    sched.untag_resource(ResourceArn=group_arn, TagKeys=["k2"])
    target_spec = {"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"x": 1}),
                   "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}}
    sched.create_schedule(Name="nightly", GroupName=group, ScheduleExpression="cron(0 3 * * ? *)",
                          ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
                          Target=target_spec, State="DISABLED", Description="d")
    sched.get_schedule(Name="nightly", GroupName=group)
    sched.update_schedule(Name="nightly", GroupName=group, ScheduleExpression="rate(5 minutes)",
                          FlexibleTimeWindow={"Mode": "OFF"}, Target=target_spec, State="DISABLED")
    sched.list_schedules(GroupName=group)
    sched.list_schedules(NamePrefix="night", MaxResults=1)
    assert expect_error(sched.get_schedule, Name="missing", GroupName=group) == "ResourceNotFoundException"
    assert expect_error(sched.create_schedule, Name="bad", GroupName=group, ScheduleExpression="cron(bad)",
                        FlexibleTimeWindow={"Mode": "OFF"}, Target=target_spec) == "ValidationException"
    assert expect_error(sched.create_schedule_group, Name=group) == "ConflictException"
    sched.delete_schedule(Name="nightly", GroupName=group)
    sched.delete_schedule_group(Name=group)

    assert SCHEDULER_OPERATIONS <= rec.operations(), sorted(SCHEDULER_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_function_policy_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    lam = rec.attach(server.client())
    name = create_function(lam, APP)
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceArn="arn:aws:s3:::bucket", SourceAccount="000000000000")
    lam.get_policy(FunctionName=name)
    assert expect_error(lam.add_permission, FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                        Principal="123456789012") == "ResourceConflictException"
    lam.remove_permission(FunctionName=name, StatementId="s3")
    assert expect_error(lam.get_policy, FunctionName=name) == "ResourceNotFoundException"
    assert POLICY_OPERATIONS <= rec.operations(), sorted(POLICY_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_iam_and_sts_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    iam = rec.attach(server.client("iam"))
    sts = rec.attach(server.client("sts"))
    user, role, trust = unique("user"), unique("role"), json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]})
    iam.create_user(UserName=user)
    iam.get_user(UserName=user)
    iam.list_users()
    iam.tag_user(UserName=user, Tags=[{"Key": "k", "Value": "v"}])
    iam.list_user_tags(UserName=user)
    iam.untag_user(UserName=user, TagKeys=["k"])
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.list_access_keys(UserName=user)
    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    iam.delete_access_key(UserName=user, AccessKeyId=key)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=doc)
    iam.get_user_policy(UserName=user, PolicyName="p")
    iam.list_user_policies(UserName=user)
    iam.delete_user_policy(UserName=user, PolicyName="p")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.get_role(RoleName=role)
    iam.list_roles()
    iam.tag_role(RoleName=role, Tags=[{"Key": "k", "Value": "v"}])
    iam.list_role_tags(RoleName=role)
    iam.untag_role(RoleName=role, TagKeys=["k"])
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust)
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=doc)
    iam.get_role_policy(RoleName=role, PolicyName="p")
    iam.list_role_policies(RoleName=role)
    iam.delete_role_policy(RoleName=role, PolicyName="p")
    iam.list_instance_profiles_for_role(RoleName=role)
    policy_arn = iam.create_policy(PolicyName=unique("pol"), PolicyDocument=doc)["Policy"]["Arn"]
    iam.get_policy(PolicyArn=policy_arn)
    iam.get_policy_version(PolicyArn=policy_arn, VersionId="v1")
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=doc, SetAsDefault=False)
    iam.list_policy_versions(PolicyArn=policy_arn)
    iam.set_default_policy_version(PolicyArn=policy_arn, VersionId="v2")
    iam.delete_policy_version(PolicyArn=policy_arn, VersionId="v1")
    iam.list_policies(Scope="Local")
    iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    iam.list_attached_role_policies(RoleName=role)
    iam.detach_role_policy(RoleName=role, PolicyArn=policy_arn)
    iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
    iam.list_attached_user_policies(UserName=user)
    iam.detach_user_policy(UserName=user, PolicyArn=policy_arn)
    assert expect_error(iam.get_role, RoleName="missing-role") == "NoSuchEntity"
    assert expect_error(iam.create_user, UserName=user) == "EntityAlreadyExists"
    iam.delete_policy(PolicyArn=policy_arn)
    sts.get_caller_identity()
    # The account root may not assume roles (as on AWS): the error, in STS's envelope
    assert expect_error(sts.assume_role, RoleArn=role_arn, RoleSessionName="session") == "AccessDenied"
    # A user the role's trust policy names may
    user_arn = iam.get_user(UserName=user)["User"]["Arn"]
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}))
    creds = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = rec.attach(boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                                      aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"]))
    assumed = as_user.assume_role(RoleArn=role_arn, RoleSessionName="session", DurationSeconds=900)
    assert assumed["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role}/session")
    iam.delete_access_key(UserName=user, AccessKeyId=creds["AccessKeyId"])
    iam.delete_role(RoleName=role)
    iam.delete_user(UserName=user)
    exercised = IAM_OPERATIONS | STS_OPERATIONS
    assert exercised <= rec.operations(), sorted(exercised - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_ec2_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    ec2 = rec.attach(server.client("ec2"))
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.describe_vpcs(VpcIds=[vpc])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    group = ec2.create_security_group(GroupName=unique("db-access"), Description="d", VpcId=vpc)["GroupId"]
    ec2.describe_security_groups(GroupIds=[group])
    rule = [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=rule)
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=rule)
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=rule)
    nat = ec2.create_nat_gateway(SubnetId=subnet)["NatGateway"]["NatGatewayId"]
    ec2.describe_nat_gateways(NatGatewayIds=[nat])
    ec2.delete_nat_gateway(NatGatewayId=nat)
    endpoint = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.lambda", VpcEndpointType="Interface",
                                       SubnetIds=[subnet], SecurityGroupIds=[group])["VpcEndpoint"]["VpcEndpointId"]
    ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    ec2.describe_network_interfaces()
    assert expect_error(ec2.delete_vpc, VpcId=vpc) == "DependencyViolation"
    assert expect_error(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == "InvalidVpcID.NotFound"
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    assert EC2_OPERATIONS <= rec.operations(), sorted(EC2_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_cloudwatch_responses_match_the_model(server: Server) -> None:
    import datetime

    rec = ShapeRecorder()
    cw = rec.attach(server.client("cloudwatch"))
    now = datetime.datetime.now(datetime.timezone.utc)
    cw.put_metric_data(Namespace="Wire/Test", MetricData=[
        {"MetricName": "Hits", "Dimensions": [{"Name": "Page", "Value": "home"}], "Value": 3.0, "Unit": "Count"}])
    cw.get_metric_statistics(Namespace="Wire/Test", MetricName="Hits", Dimensions=[{"Name": "Page", "Value": "home"}],
                             StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=1),
                             Period=60, Statistics=["Sum", "SampleCount"])
    cw.get_metric_data(MetricDataQueries=[{"Id": "q1", "MetricStat": {
        "Metric": {"Namespace": "Wire/Test", "MetricName": "Hits", "Dimensions": [{"Name": "Page", "Value": "home"}]},
        "Period": 60, "Stat": "Sum"}}], StartTime=now - datetime.timedelta(minutes=5),
        EndTime=now + datetime.timedelta(minutes=1))
    cw.list_metrics(Namespace="Wire/Test")
    assert CLOUDWATCH_OPERATIONS <= rec.operations(), sorted(CLOUDWATCH_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_xray_responses_match_the_model(server: Server) -> None:
    import datetime
    import json
    import os
    import time

    rec = ShapeRecorder()
    xray = rec.attach(server.client("xray"))
    now = time.time()
    trace = f"1-{int(now):08x}-{os.urandom(12).hex()}"
    doc = {"id": os.urandom(8).hex(), "trace_id": trace, "name": "wire", "start_time": now - 1, "end_time": now,
           "error": True}
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc), "{bad"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not xray.batch_get_traces(TraceIds=[trace])["Traces"]:
        time.sleep(0.2)
    start = datetime.datetime.fromtimestamp(now - 60, datetime.timezone.utc)
    end = datetime.datetime.fromtimestamp(now + 60, datetime.timezone.utc)
    summaries = xray.get_trace_summaries(StartTime=start, EndTime=end, FilterExpression=f'id("{trace}")')
    assert [s["Id"] for s in summaries["TraceSummaries"]] == [trace]
    assert expect_error(xray.get_trace_summaries, StartTime=start, EndTime=end,
                        FilterExpression="annotation.a = 1") == "InvalidRequestException"
    assert expect_error(xray.batch_get_traces, TraceIds=[trace] * 6) == "InvalidRequestException"
    assert XRAY_OPERATIONS <= rec.operations(), sorted(XRAY_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_lambent_responses_match_the_model(server: Server) -> None:
    rec = ShapeRecorder()
    lam = server.client()
    name = create_function(lam, APP)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=zip_of({**APP, "v2.txt": "2"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    api = rec.attach(model_client("lambent", server.url, ACCESS_KEY, SECRET_KEY, "us-east-1"))
    # parked at 10 % for two days: nothing moves while the test reads it
    created = api.create_deployment(
        FunctionName=name, Alias="live", TargetVersion="2",
        TrafficRoutingConfig={"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 2880}},
    )["Deployment"]
    api.get_deployment(DeploymentId=created["DeploymentId"])
    api.list_deployments(FunctionName=name)
    api.stop_deployment(DeploymentId=created["DeploymentId"])
    assert expect_error(api.get_deployment, DeploymentId="d-NOTTHERE") == "ResourceNotFoundException"
    lam.invoke(FunctionName=name, Payload=b"{}")
    api.get_usage(By="version", FunctionName=name, Since="1h")
    assert expect_error(api.get_usage, Since="not-a-time") == "InvalidParameterValueException"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")  # waits, throttled
    assert [q["FunctionName"] for q in api.list_async_event_queues(FunctionName=name)["Queues"]] == [name]
    api.list_undeliverable_records(MaxItems=5)
    assert api.redrive_undeliverable_records(RecordIds=[424242])["Failed"][0]["RecordId"] == 424242
    assert expect_error(api.list_undeliverable_records, Marker="x") == "InvalidParameterValueException"
    # a subnet that does not exist (attachments themselves: tests/integration/network/test_vpc_server.py)
    assert expect_error(api.attach_subnet, SubnetId="subnet-0123456789abcdef0", Host=True) == "ResourceNotFoundException"
    assert expect_error(api.detach_subnet, SubnetId="subnet-0123456789abcdef0", Host=True) == "ResourceNotFoundException"

    assert LAMBENT_OPERATIONS <= rec.operations(), sorted(LAMBENT_OPERATIONS - rec.operations())
    problems = rec.problems()
    assert problems == [], "\n".join(problems)


def test_operations_not_served_answer_unknown_operation_naming_them(server: Server) -> None:
    """Not a bare 404 or a 500 (which botocore would retry): AWS's UnknownOperationException, with
    the operation's name from botocore's model when the request is one lambent does not implement."""
    lam = server.client()
    name = create_function(lam, APP)
    for call, kwargs, operation in [
        (lam.get_function_code_signing_config, {"FunctionName": name}, "GetFunctionCodeSigningConfig"),
        (lam.get_function_url_config, {"FunctionName": name}, "GetFunctionUrlConfig"),
        (lam.list_provisioned_concurrency_configs, {"FunctionName": name}, "ListProvisionedConcurrencyConfigs"),
    ]:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        err = exc.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("UnknownOperationException", 404)
        assert operation in err["Error"]["Message"]
        assert err["ResponseMetadata"]["RetryAttempts"] == 0
    # a path no operation has, and a known path with a method it does not take
    for method, path in [("GET", "/2015-03-31/nothing-here"), ("PATCH", f"/2015-03-31/functions/{name}")]:
        status, headers, body = send_signed(server, method, path)
        assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
        assert "No lambda operation matches" in json.loads(body)["message"]


def test_event_invoke_configs_paginate(server: Server) -> None:
    lam = server.client()
    name = create_function(lam, APP)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualifier in ("$LATEST", "1", "live"):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1)
    pages = list(lam.get_paginator("list_function_event_invoke_configs").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}))
    assert [len(p["FunctionEventInvokeConfigs"]) for p in pages] == [1, 1, 1]
    arns = [c["FunctionArn"] for p in pages for c in p["FunctionEventInvokeConfigs"]]
    assert sorted(a.rsplit(":", 1)[1] for a in arns) == ["$LATEST", "1", "live"]
