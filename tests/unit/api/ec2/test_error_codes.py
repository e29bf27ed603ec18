"""Every VPC error class carries its EC2 code, is listed for the EC2 table, and reaches a botocore
client as that code with its status (through the table the report asks envelopes.EC2 to hold)."""

from __future__ import annotations

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from ec2_wire import ec2_service

from lambent import errors as e
from lambent.vpc import errors as ve


def _all_subclasses(cls: type[ve.Ec2Error]) -> set[type[ve.Ec2Error]]:
    out: set[type[ve.Ec2Error]] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_class_with_a_code_is_listed_once_and_codes_are_distinct() -> None:
    defined = {c for c in _all_subclasses(ve.Ec2Error) if c.__module__ == ve.__name__}
    assert set(ve.EC2_ERRORS) == defined and len(ve.EC2_ERRORS) == len(defined)
    assert len({c.code for c in ve.EC2_ERRORS}) == len(ve.EC2_ERRORS)


@pytest.mark.usefixtures("endpoint")
@pytest.mark.parametrize("cls", ve.EC2_ERRORS, ids=lambda c: c.code)
def test_each_reaches_the_client_as_its_code(cls: type[ve.Ec2Error]) -> None:
    status, headers, body = ec2_service().protocol.serialise_error(cls("it <went> & wrong"), request_id="r-1")  # type: ignore[union-attr]
    parsed = create_parser("ec2").parse({"status_code": status, "headers": HeadersDict(headers), "body": body}, None)
    assert parsed["Error"] == {"Code": cls.code, "Message": "it <went> & wrong"}
    assert status == cls.status and 400 <= status < 500


def test_families_for_every_other_table() -> None:
    assert issubclass(ve.VpcNotFound, e.ResourceNotFound) and issubclass(ve.DependencyViolation, e.ResourceConflict)
    assert issubclass(ve.InsufficientFreeAddresses, e.LimitExceeded) and issubclass(ve.VpcRange, e.InvalidParameterValue)
