import { DataAwsAvailabilityZones } from '@cdktn/provider-aws/lib/data-aws-availability-zones/index.js';
import { DataAwsVpcEndpointService } from '@cdktn/provider-aws/lib/data-aws-vpc-endpoint-service/index.js';
import { DefaultSecurityGroup } from '@cdktn/provider-aws/lib/default-security-group/index.js';
import { RouteTable } from '@cdktn/provider-aws/lib/route-table/index.js';
import { RouteTableAssociation } from '@cdktn/provider-aws/lib/route-table-association/index.js';
import { SecurityGroup } from '@cdktn/provider-aws/lib/security-group/index.js';
import { Subnet } from '@cdktn/provider-aws/lib/subnet/index.js';
import { Vpc } from '@cdktn/provider-aws/lib/vpc/index.js';
import { VpcEndpoint } from '@cdktn/provider-aws/lib/vpc-endpoint/index.js';
import { VpcSecurityGroupEgressRule } from '@cdktn/provider-aws/lib/vpc-security-group-egress-rule/index.js';
import { VpcSecurityGroupIngressRule } from '@cdktn/provider-aws/lib/vpc-security-group-ingress-rule/index.js';
import { resourceName } from '@sidestep/manifest';
import { Fn, Op } from 'cdktn';
import { Construct } from 'constructs';
import type { TaskNetworkConfig } from './batch-task.ts';
import type { FunctionVpcConfig } from './service-function.ts';

/**
 * The AWS services the functions and the Fargate task call, as interface endpoint names
 * (`com.amazonaws.<region>.<name>`). Without a NAT gateway these are the only way out of the subnets.
 * S3 is not here: it has a (free) gateway endpoint on the route table.
 */
export const NETWORK_INTERFACE_ENDPOINTS = [
  // Fargate pulls the task's image: the registry API and the Docker registry (layers come from S3).
  'ecr.api',
  'ecr.dkr',
  // The task's awslogs driver (Lambda writes its logs outside the VPC).
  'logs',
  // The database URL secret, the download signing key.
  'secretsmanager',
  // Job queues: mail jobs sent by the workflows' callees and the sweeper, dead-lettering by the runtime.
  'sqs',
  // The SES v2 API (SendEmail) the mail-dispatcher calls; `email-smtp` is the SMTP interface, unused.
  'email',
  // Step Functions: the job-sweeper's scheduled sweep lists the workflows' ended executions.
  'states',
] as const;

/**
 * The zones (by AZ ID, the same in every account) Fargate runs Linux tasks in, for the regions where
 * AWS lists only some: "The supported Availability Zone IDs are noted when applicable"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html). An AZ name
 * maps to a different AZ ID in each account, so a subnet in "the region's first two zones" lands in an
 * unsupported one in some accounts (an account old enough to have apne1-az3 in Tokyo, usw1-az2 in N.
 * California), and the batch task placed there does not start. Every other region: all its zones.
 */
export const FARGATE_ZONE_IDS: Readonly<Record<string, readonly string[]>> = {
  'us-west-1': ['usw1-az1', 'usw1-az3'],
  'ap-northeast-1': ['apne1-az1', 'apne1-az2', 'apne1-az4'],
};

/** What an environment config says about a created network (`SIDESTEP_<ENV>_NETWORK=create`). */
export interface NetworkSettings {
  /** The VPC's IPv4 range (a /16 to /24), split into one subnet per availability zone. @default '10.0.0.0/16' */
  readonly cidrBlock?: string;
  /**
   * The database the workload reaches on `port`. A group the Terraform provider creates keeps none of
   * the allow-all egress AWS gives a new group, and a group without outbound rules sends nothing
   * (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html): the workload can
   * connect only to a database named here, whatever the database's own group admits.
   * @default none: the workload reaches no database
   */
  readonly database?: NetworkDatabase;
  /**
   * Availability zones: one private subnet in each, and every interface endpoint in every subnet. AWS
   * bills an interface endpoint per zone it is in, by the hour, used or not
   * (https://aws.amazon.com/privatelink/pricing/), so the endpoints, which are most of what an idle
   * environment costs, cost in proportion to this (README, "What an environment costs when nothing
   * runs"). One zone halves that; an outage of the zone then stops the functions and the batch task
   * until it ends. At most 4: the VPC's range is split in 4.
   * @default 2
   */
  readonly availabilityZoneCount?: number;
}

/**
 * Where the workload's database is, the narrowest first: by its security group (the workload sends to
 * that group's members only, and the group admits the workload), else by `cidrBlock`, else anywhere in
 * the created VPC's range (the database in the VPC, its group admitting the workload's members).
 */
export interface NetworkDatabase {
  /**
   * Security group of the database (RDS instance or proxy) in this VPC; it is made to admit the workload.
   * @default none
   */
  readonly securityGroupId?: string;
  /**
   * IPv4 range holding the database's addresses (its subnets': an RDS address moves on a failover), when
   * its group is not given; the database's group must then admit the workload group itself. Excludes
   * `securityGroupId`.
   * @default the VPC's range, when `securityGroupId` is unset
   */
  readonly cidrBlock?: string;
  /** @default 5432 (PostgreSQL) */
  readonly port?: number;
}

/** Props of {@link Network}. */
export interface NetworkProps extends NetworkSettings {
  /** Environment name (`staging`); the VPC and its groups are named `sidestep-<env>-*`. */
  readonly environment: string;
  /** Region of the VPC; names the endpoint services. */
  readonly region: string;
  /** Interface endpoints to create. @default {@link NETWORK_INTERFACE_ENDPOINTS} */
  readonly interfaceEndpoints?: readonly string[];
}

const HTTPS = { ipProtocol: 'tcp', fromPort: 443, toPort: 443 } as const;

/**
 * A VPC for sidestep's functions and tasks with no route to the internet: private subnets in
 * `availabilityZoneCount` zones on one route table, an S3 gateway endpoint on that table, and a
 * private-DNS interface endpoint per AWS service the workload calls, each with its own security group
 * that admits HTTPS from the workload security group only. The workload security group (functions'
 * ENIs, Fargate tasks) may reach the endpoints, S3 and the configured database (through
 * {@link Network.allowDatabaseAccess} or {@link Network.allowDatabaseEgress}); nothing may reach it.
 * The VPC's default security group is emptied.
 *
 * No NAT gateway: the workload can send to AWS's services and its database and nowhere else. That
 * costs more than a NAT gateway while nothing runs: 7 endpoints at $0.01 an hour each per zone against
 * a NAT gateway's $0.045 (us-east-1: https://aws.amazon.com/privatelink/pricing/,
 * https://aws.amazon.com/vpc/pricing/), $0.070 against $0.045 per zone; and less per byte, $0.01 a GB
 * against $0.045, S3 free through its gateway endpoint either way. A service added to the workload
 * needs its endpoint here.
 */
export class Network extends Construct {
  /** The VPC. */
  readonly vpc: Vpc;
  /** VPC id. */
  readonly vpcId: string;
  /** The private subnets' ids. */
  readonly subnetIds: readonly string[];
  /** The security group of the functions' ENIs and the Fargate tasks. */
  readonly workloadSecurityGroup: SecurityGroup;
  /** Its id. */
  readonly workloadSecurityGroupId: string;
  /** Interface endpoints by service name (`sqs`), and the S3 gateway endpoint as `s3`. */
  readonly endpoints: ReadonlyMap<string, VpcEndpoint>;
  readonly #environment: string;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.#environment = props.environment;
    const prefix = `sidestep-${props.environment}`;
    const tag = (suffix = '') => ({ Name: `${prefix}${suffix}` });
    this.vpc = new Vpc(this, 'vpc', {
      cidrBlock: props.cidrBlock ?? '10.0.0.0/16',
      // Private DNS of interface endpoints needs both.
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: tag(),
    });
    this.vpcId = this.vpc.id;
    // CKV2_AWS_12: the default group admits its own members; managed without rules, it admits nothing.
    new DefaultSecurityGroup(this, 'default-security-group', { vpcId: this.vpcId, tags: tag('-default') });

    // Zones that need no opt-in (no Local Zones) and where Fargate runs tasks.
    const fargateZoneIds = FARGATE_ZONE_IDS[props.region];
    const zones = new DataAwsAvailabilityZones(this, 'zones', {
      state: 'available',
      filter: [
        { name: 'opt-in-status', values: ['opt-in-not-required'] },
        ...(fargateZoneIds ? [{ name: 'zone-id', values: [...fargateZoneIds] }] : []),
      ],
    });
    const interfaceEndpoints = props.interfaceEndpoints ?? NETWORK_INTERFACE_ENDPOINTS;
    // An AWS service's interface endpoint is not offered in every zone of a region, and creating one
    // with a subnet in a zone it does not serve fails ("The VPC endpoint service ... does not support
    // the Availability Zone of the subnet":
    // https://repost.aws/knowledge-center/interface-endpoint-availability-zone). Every endpoint here
    // spans every subnet, so the subnets go only in zones all of them serve, as the endpoint services
    // list them in this account (their names: the account's own mapping). A service the region does
    // not offer as an endpoint at all fails the plan here, naming it, before anything is created.
    const endpointZones = interfaceEndpoints.map(
      (service) =>
        new DataAwsVpcEndpointService(this, `${service.replaceAll('.', '-')}-endpoint-service`, {
          service,
          serviceType: 'Interface',
        }).availabilityZones,
    );
    const usableZones = Fn.sort(Fn.setintersection(zones.names, endpointZones));
    const routeTable = new RouteTable(this, 'route-table', { vpcId: this.vpcId, tags: tag('-private') });
    const count = props.availabilityZoneCount ?? 2;
    const subnets = Array.from({ length: count }, (_, index) => {
      const subnet = new Subnet(this, `subnet-${index}`, {
        vpcId: this.vpcId,
        // `element` wraps around: without enough zones two subnets would share one, so the plan stops.
        availabilityZone: Fn.element(usableZones, index),
        lifecycle: {
          precondition: [
            {
              condition: Op.gt(Fn.lengthOf(usableZones), index),
              errorMessage: `sidestep's network needs ${count} availability zones where Fargate runs tasks and every interface endpoint it creates (${interfaceEndpoints.join(', ')}) is offered; this region and account have fewer (set SIDESTEP_${props.environment.toUpperCase()}_NETWORK_ZONES lower, or use a network of your own)`,
            },
          ],
        },
        // Two more bits: 4 equal ranges, room for a third zone.
        cidrBlock: Fn.cidrsubnet(this.vpc.cidrBlock, 2, index),
        tags: tag(`-private-${index}`),
      });
      new RouteTableAssociation(this, `subnet-${index}-route-table`, {
        subnetId: subnet.id,
        routeTableId: routeTable.id,
      });
      return subnet;
    });
    this.subnetIds = subnets.map((subnet) => subnet.id);

    this.workloadSecurityGroup = new SecurityGroup(this, 'workload-security-group', {
      name: resourceName(props.environment, 'workload'),
      description: `sidestep ${props.environment} functions and tasks: reach AWS endpoints and the database`,
      vpcId: this.vpcId,
      tags: tag('-workload'),
    });
    this.workloadSecurityGroupId = this.workloadSecurityGroup.id;

    const endpoints = new Map<string, VpcEndpoint>();
    const s3 = new VpcEndpoint(this, 's3-endpoint', {
      vpcId: this.vpcId,
      serviceName: `com.amazonaws.${props.region}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [routeTable.id],
      tags: tag('-s3'),
    });
    endpoints.set('s3', s3);
    new VpcSecurityGroupEgressRule(this, 'workload-to-s3', {
      securityGroupId: this.workloadSecurityGroupId,
      description: 'S3 through the gateway endpoint',
      prefixListId: s3.prefixListId,
      ...HTTPS,
    });
    for (const service of interfaceEndpoints) {
      const key = service.replaceAll('.', '-');
      const group = new SecurityGroup(this, `${key}-endpoint-security-group`, {
        name: resourceName(props.environment, `${key}-endpoint`),
        description: `The ${service} endpoint of sidestep ${props.environment}: HTTPS from the workload`,
        vpcId: this.vpcId,
        tags: tag(`-${key}-endpoint`),
      });
      new VpcSecurityGroupIngressRule(this, `${key}-endpoint-from-workload`, {
        securityGroupId: group.id,
        description: 'HTTPS from the workload',
        referencedSecurityGroupId: this.workloadSecurityGroupId,
        ...HTTPS,
      });
      new VpcSecurityGroupEgressRule(this, `workload-to-${key}-endpoint`, {
        securityGroupId: this.workloadSecurityGroupId,
        description: `The ${service} endpoint`,
        referencedSecurityGroupId: group.id,
        ...HTTPS,
      });
      endpoints.set(
        service,
        new VpcEndpoint(this, `${key}-endpoint`, {
          vpcId: this.vpcId,
          serviceName: `com.amazonaws.${props.region}.${service}`,
          vpcEndpointType: 'Interface',
          privateDnsEnabled: true,
          subnetIds: [...this.subnetIds],
          securityGroupIds: [group.id],
          tags: tag(`-${key}`),
        }),
      );
    }
    this.endpoints = endpoints;
    const database = props.database;
    if (database?.securityGroupId) this.allowDatabaseAccess(database.securityGroupId, database.port);
    else if (database) this.allowDatabaseEgress(database.cidrBlock ?? this.vpc.cidrBlock, database.port);
  }

  /** Where functions run: the private subnets, with the workload security group. */
  get functionPlacement(): FunctionVpcConfig {
    return { subnetIds: this.subnetIds, securityGroupIds: [this.workloadSecurityGroupId] };
  }

  /** Where Fargate tasks run: the private subnets, the workload security group, no public IP. */
  get taskPlacement(): TaskNetworkConfig {
    return { ...this.functionPlacement, assignPublicIp: false };
  }

  /**
   * Lets the workload reach a database: an ingress rule on the database's security group from the
   * workload security group, and the matching egress rule on the workload's.
   * @param port @default 5432 (PostgreSQL)
   */
  allowDatabaseAccess(databaseSecurityGroupId: string, port = 5432): void {
    const id = `database-${databaseSecurityGroupId}-${port}`;
    new VpcSecurityGroupIngressRule(this, `${id}-from-workload`, {
      securityGroupId: databaseSecurityGroupId,
      description: `sidestep ${this.#environment} functions and tasks`,
      referencedSecurityGroupId: this.workloadSecurityGroupId,
      ...databasePort(port),
    });
    new VpcSecurityGroupEgressRule(this, `workload-to-${id}`, {
      securityGroupId: this.workloadSecurityGroupId,
      description: 'The database',
      referencedSecurityGroupId: databaseSecurityGroupId,
      ...databasePort(port),
    });
  }

  /**
   * Lets the workload send to a database known by its addresses only: an egress rule on the workload
   * security group to `cidrBlock` on `port`. The database's group, not the stack's, must admit the
   * workload group (output `workload_security_group_id`) itself.
   * @param port @default 5432 (PostgreSQL)
   */
  allowDatabaseEgress(cidrBlock: string, port = 5432): void {
    new VpcSecurityGroupEgressRule(this, `workload-to-database-${port}`, {
      securityGroupId: this.workloadSecurityGroupId,
      description: 'The database',
      cidrIpv4: cidrBlock,
      ...databasePort(port),
    });
  }
}

/** TCP on the database's port, as a rule's protocol and port range. */
const databasePort = (port: number) => ({ ipProtocol: 'tcp', fromPort: port, toPort: port }) as const;
