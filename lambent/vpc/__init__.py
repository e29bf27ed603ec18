"""The VPC model (issue 11): VPCs, subnets, security groups, NAT gateways, VPC endpoints and the
addresses leased from subnets, per account, served through the EC2 API subset
(lambent/api/ec2_api.py). No Linux networking here: the network layer subscribes to
:class:`lambent.vpc.service.VpcService` and leases addresses from it.

    errors.py   EC2's error codes as LambentError subclasses
    cidr.py     CIDR rules of VPCs and subnets, reserved addresses, address choice (pure)
    rules.py    IpPermissions <-> atomic security-group rules (pure)
    filters.py  Describe filters and pagination (pure)
    model.py    the frozen values and quotas
    rows.py     values <-> the store's rows
    service.py  VpcService: the model of one server, change listeners, leases
"""
