import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { SERVICES, TASKS } from '@sidestep/registry';
import {
  checkSecurityPolicy,
  environmentConfigs,
  InfraConfigError,
  NETWORK_INTERFACE_ENDPOINTS,
} from '../src/index.ts';
import { STAGING, STAGING_SETTINGS, synthStack } from './environment-fixture.ts';
import { all, type Json, one, ref } from './terraform-json.ts';

/** The interface endpoints a private subnet without NAT needs, by the AWS service name's suffix. */
const INTERFACE_SERVICES = ['ecr.api', 'ecr.dkr', 'logs', 'secretsmanager', 'sqs', 'email', 'states'];

const { vpc: _byo, ...withoutVpc } = STAGING;
const created = synthStack({
  ...withoutVpc,
  network: { database: { securityGroupId: 'sg-database' } },
});
const byo = synthStack(STAGING);

/** Functions that come from service manifests (the export download endpoint reaches no database). */
const serviceFunctions = (tf: Json): [string, Json][] =>
  all(tf, 'aws_lambda_function').filter(([, fn]) => !String(fn.function_name).endsWith('-export-download'));

describe('Network (SIDESTEP_<ENV>_NETWORK=create)', () => {
  const [vpcAddress, vpc] = one(created, 'aws_vpc');
  const subnets = all(created, 'aws_subnet');
  const subnetIds = subnets.map(([address]) => ref(address, 'id'));
  const [workloadAddress] = one(created, 'aws_security_group', { name: 'sidestep-staging-workload' });
  const workloadId = ref(workloadAddress, 'id');

  it('creates a VPC with DNS (private endpoint names resolve) and a private subnet in each of 2 AZs', () => {
    expect(vpc).toMatchObject({ enable_dns_support: true, enable_dns_hostnames: true });
    expect(subnets).toHaveLength(2);
    const zones = subnets.map(([, subnet]) => subnet.availability_zone);
    expect(new Set(zones).size).toBe(2);
    for (const [, subnet] of subnets) {
      expect(subnet.vpc_id).toBe(ref(vpcAddress, 'id'));
      expect(subnet.map_public_ip_on_launch).not.toBe(true);
    }
    // Private: nothing routes to the internet.
    expect(all(created, 'aws_internet_gateway')).toHaveLength(0);
    expect(all(created, 'aws_nat_gateway')).toHaveLength(0);
  });

  // https://repost.aws/knowledge-center/interface-endpoint-availability-zone: an endpoint in a subnet of
  // a zone its service does not serve is refused, and every endpoint here spans every subnet.
  it('puts the subnets only in zones every interface endpoint service serves, and stops the plan when there are too few', () => {
    const services = Object.entries(created.data?.aws_vpc_endpoint_service ?? {}) as [string, Json][];
    expect(services.map(([, service]) => service.service).sort()).toEqual([...INTERFACE_SERVICES].sort());
    for (const [, service] of services) expect(service.service_type).toBe('Interface');
    const [zonesName] = Object.keys(created.data.aws_availability_zones);
    // In the endpoints' order (the data sources' JSON keys are sorted).
    const dataName = (suffix: string) => services.find(([, service]) => service.service === suffix)?.[0];
    const usable = `sort(setintersection(data.aws_availability_zones.${zonesName}.names, ${INTERFACE_SERVICES.map(
      (suffix) => `tolist(data.aws_vpc_endpoint_service.${dataName(suffix)}.availability_zones)`,
    ).join(', ')}))`;
    subnets.forEach(([, subnet], index) => {
      expect(subnet.availability_zone).toBe(`\${element(${usable}, ${index})}`);
      // `element` wraps around: with one usable zone both subnets would land in it.
      expect(subnet.lifecycle.precondition).toEqual([
        {
          condition: `\${(length(${usable}) > ${index})}`,
          error_message: expect.stringContaining('needs 2 availability zones'),
        },
      ]);
      for (const service of INTERFACE_SERVICES) {
        expect(subnet.lifecycle.precondition[0].error_message).toContain(service);
      }
    });
  });

  // Interface endpoints are billed per zone they are in (https://aws.amazon.com/privatelink/pricing/):
  // the zone count is what an idle environment's network costs in proportion to.
  it('puts the network in as many zones as it is told, each endpoint in every subnet, naming the setting when the region has too few', () => {
    for (const availabilityZoneCount of [1, 3]) {
      const tf = synthStack({
        ...withoutVpc,
        network: { database: { securityGroupId: 'sg-database' }, availabilityZoneCount },
      });
      const zoned = all(tf, 'aws_subnet');
      expect(zoned).toHaveLength(availabilityZoneCount);
      const ids = zoned.map(([address]) => ref(address, 'id'));
      const interfaces = all(tf, 'aws_vpc_endpoint').filter(([, e]) => e.vpc_endpoint_type === 'Interface');
      expect(interfaces).toHaveLength(INTERFACE_SERVICES.length);
      for (const [, endpoint] of interfaces) expect(endpoint.subnet_ids).toEqual(ids);
      for (const [, fn] of serviceFunctions(tf)) expect(fn.vpc_config.subnet_ids).toEqual(ids);
      expect(zoned.at(-1)?.[1].lifecycle.precondition[0].error_message).toContain(
        `needs ${availabilityZoneCount} availability zones`,
      );
      expect(zoned.at(-1)?.[1].lifecycle.precondition[0].error_message).toContain(
        'set SIDESTEP_STAGING_NETWORK_ZONES lower',
      );
    }
  });

  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html lists the AZ
  // IDs Fargate runs Linux tasks in where it does not run in all of a region's zones.
  it('keeps the subnets to the zones Fargate runs tasks in, where AWS lists only some (Tokyo: apne1-az1, -az2, -az4)', () => {
    const zoneFilters = (tf: Json) =>
      (Object.values(tf.data.aws_availability_zones)[0] as Json).filter as {
        name: string;
        values: string[];
      }[];
    expect(zoneFilters(created)).toEqual([{ name: 'opt-in-status', values: ['opt-in-not-required'] }]);
    const tokyo = synthStack({
      ...withoutVpc,
      region: 'ap-northeast-1',
      network: { database: { securityGroupId: 'sg-database' } },
    });
    expect(zoneFilters(tokyo)).toEqual([
      { name: 'opt-in-status', values: ['opt-in-not-required'] },
      { name: 'zone-id', values: ['apne1-az1', 'apne1-az2', 'apne1-az4'] },
    ]);
  });

  // Without a NAT the subnets reach AWS only through their endpoints: an API a service or the task
  // calls with no endpoint hangs until the function times out (the job-sweeper's Step Functions calls did).
  it("has an endpoint for every AWS service a manifest's permissions call", () => {
    const endpointOf: Readonly<Record<string, string>> = {
      s3: 's3',
      sqs: 'sqs',
      secretsmanager: 'secretsmanager',
      ses: 'email',
      states: 'states',
    };
    const prefixes = new Set(
      [...SERVICES, ...TASKS].flatMap(({ manifest }) =>
        manifest.permissions.flatMap((permission) =>
          permission.actions.map((action) => action.split(':')[0]),
        ),
      ),
    );
    const endpoints = all(created, 'aws_vpc_endpoint').map(([, endpoint]) =>
      String(endpoint.service_name).replace(`com.amazonaws.${STAGING.region}.`, ''),
    );
    expect(prefixes.size).toBeGreaterThan(0);
    for (const prefix of prefixes) {
      expect(endpoints).toContain(endpointOf[prefix ?? ''] ?? `an endpoint for ${prefix}`);
    }
  });

  it('associates every subnet with the private route table the S3 gateway endpoint is on', () => {
    const [tableAddress] = one(created, 'aws_route_table');
    const associations = all(created, 'aws_route_table_association').map(([, a]) => a);
    expect(associations.map((a) => a.subnet_id).sort()).toEqual([...subnetIds].sort());
    for (const association of associations) expect(association.route_table_id).toBe(ref(tableAddress, 'id'));
    const [, s3] = one(created, 'aws_vpc_endpoint', { vpc_endpoint_type: 'Gateway' });
    expect(s3.service_name).toBe('com.amazonaws.eu-west-1.s3');
    expect(s3.route_table_ids).toEqual([ref(tableAddress, 'id')]);
  });

  it('has a private-DNS interface endpoint per service, each with its own group open to the workload on 443', () => {
    const endpoints = all(created, 'aws_vpc_endpoint').filter(([, e]) => e.vpc_endpoint_type === 'Interface');
    expect(endpoints.map(([, e]) => e.service_name).sort()).toEqual(
      INTERFACE_SERVICES.map((s) => `com.amazonaws.eu-west-1.${s}`).sort(),
    );
    const groups = new Set<string>();
    for (const [, endpoint] of endpoints) {
      expect(endpoint.private_dns_enabled).toBe(true);
      expect([...endpoint.subnet_ids].sort()).toEqual([...subnetIds].sort());
      expect(endpoint.security_group_ids).toHaveLength(1);
      const group = endpoint.security_group_ids[0];
      groups.add(group);
      const ingress = all(created, 'aws_vpc_security_group_ingress_rule')
        .map(([, rule]) => rule)
        .filter((rule) => rule.security_group_id === group);
      expect(ingress).toEqual([
        expect.objectContaining({
          referenced_security_group_id: workloadId,
          ip_protocol: 'tcp',
          from_port: 443,
          to_port: 443,
        }),
      ]);
    }
    expect(groups.size).toBe(INTERFACE_SERVICES.length);
  });

  it('places every service function in the private subnets with the workload security group', () => {
    expect(serviceFunctions(created).length).toBeGreaterThanOrEqual(4);
    for (const [, fn] of serviceFunctions(created)) {
      expect([...fn.vpc_config.subnet_ids].sort()).toEqual([...subnetIds].sort());
      expect(fn.vpc_config.security_group_ids).toEqual([workloadId]);
    }
  });

  it('runs the batch task in the same subnets, without a public IP', () => {
    for (const [, machine] of all(created, 'aws_sfn_state_machine')) {
      const definition = String(machine.definition);
      for (const id of subnetIds) expect(definition).toContain(id);
      expect(definition).toContain(workloadId);
      expect(definition).toContain('"AssignPublicIp":"DISABLED"');
    }
  });

  it('lets the workload reach the database security group on its port (the database-access hook)', () => {
    const [, ingress] = one(created, 'aws_vpc_security_group_ingress_rule', {
      security_group_id: 'sg-database',
    });
    expect(ingress).toMatchObject({
      referenced_security_group_id: workloadId,
      ip_protocol: 'tcp',
      from_port: 5432,
      to_port: 5432,
    });
    const [, egress] = one(created, 'aws_vpc_security_group_egress_rule', {
      referenced_security_group_id: 'sg-database',
    });
    expect(egress).toMatchObject({ security_group_id: workloadId, from_port: 5432, to_port: 5432 });
  });

  it('closes the default security group and passes the security policy', () => {
    const [, closed] = one(created, 'aws_default_security_group');
    expect(closed.vpc_id).toBe(ref(vpcAddress, 'id'));
    expect(closed.ingress).toBeUndefined();
    expect(closed.egress).toBeUndefined();
    expect(checkSecurityPolicy(created)).toEqual([]);
  });
});

/** The egress rules of the created workload security group of `tf`, other than to the endpoints and S3. */
function databaseEgress(tf: Json): Json[] {
  const [workloadAddress] = one(tf, 'aws_security_group', { name: 'sidestep-staging-workload' });
  const endpointGroups = new Set(
    all(tf, 'aws_vpc_endpoint').flatMap(([, endpoint]) => endpoint.security_group_ids ?? []),
  );
  return all(tf, 'aws_vpc_security_group_egress_rule')
    .map(([, rule]) => rule)
    .filter((rule) => rule.security_group_id === ref(workloadAddress, 'id'))
    .filter(
      (rule) => !endpointGroups.has(rule.referenced_security_group_id) && rule.prefix_list_id === undefined,
    );
}

// A group the aws provider creates has no egress rule but its own: it deletes the allow-all rule AWS adds
// (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/security_group), and a group
// without outbound rules sends nothing (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html).
// The database's group admitting the workload is not enough: the workload must be allowed to send.
describe('Network: the workload reaches the database it is told of', () => {
  const [vpcAddress] = one(created, 'aws_vpc');

  it('sends to the database security group on its port, which admits the workload', () => {
    const tf = synthStack({
      ...withoutVpc,
      network: { database: { securityGroupId: 'sg-database', port: 6432 } },
    });
    expect(databaseEgress(tf)).toEqual([
      expect.objectContaining({
        referenced_security_group_id: 'sg-database',
        ip_protocol: 'tcp',
        from_port: 6432,
        to_port: 6432,
      }),
    ]);
    expect(databaseEgress(tf)[0].cidr_ipv4).toBeUndefined();
  });

  it('sends to the VPC’s range on the port of a database known by its port only', () => {
    const tf = synthStack({ ...withoutVpc, network: { database: { port: 6432 } } });
    expect(databaseEgress(tf)).toEqual([
      expect.objectContaining({
        cidr_ipv4: ref(vpcAddress, 'cidr_block'),
        ip_protocol: 'tcp',
        from_port: 6432,
        to_port: 6432,
      }),
    ]);
    // Nothing is admitted on a group the stack was not given.
    expect(all(tf, 'aws_vpc_security_group_ingress_rule')).toHaveLength(INTERFACE_SERVICES.length);
    expect(checkSecurityPolicy(tf)).toEqual([]);
  });

  it('sends to the configured database range, on 5432 by default', () => {
    const tf = synthStack({ ...withoutVpc, network: { database: { cidrBlock: '10.0.192.0/24' } } });
    expect(databaseEgress(tf)).toEqual([
      expect.objectContaining({
        cidr_ipv4: '10.0.192.0/24',
        ip_protocol: 'tcp',
        from_port: 5432,
        to_port: 5432,
      }),
    ]);
  });

  it('sends to no database when none is configured', () => {
    const tf = synthStack({ ...withoutVpc, network: {} });
    expect(databaseEgress(tf)).toEqual([]);
    // Only HTTPS to the endpoints and S3 leaves the workload.
    const [workloadAddress] = one(tf, 'aws_security_group', { name: 'sidestep-staging-workload' });
    const egress = all(tf, 'aws_vpc_security_group_egress_rule').map(([, rule]) => rule);
    expect(egress.filter((rule) => rule.security_group_id === ref(workloadAddress, 'id'))).toHaveLength(
      INTERFACE_SERVICES.length + 1,
    );
    for (const rule of egress) expect([rule.from_port, rule.to_port]).toEqual([443, 443]);
  });
});

describe('bring your own VPC (SIDESTEP_<ENV>_SUBNET_IDS, _SECURITY_GROUP_IDS)', () => {
  it('creates no network and places functions in the configured subnets', () => {
    for (const type of ['aws_vpc', 'aws_subnet', 'aws_vpc_endpoint', 'aws_route_table', 'aws_security_group'])
      expect(all(byo, type)).toHaveLength(0);
    for (const [, fn] of serviceFunctions(byo)) {
      expect(fn.vpc_config).toEqual({ subnet_ids: ['subnet-a', 'subnet-b'], security_group_ids: ['sg-1'] });
    }
  });
});

describe('network config', () => {
  const base = { SIDESTEP_STAGING_ACCOUNT_ID: '123456789012' };

  it('reads SIDESTEP_<ENV>_NETWORK=create, with the database group and port', () => {
    const { staging } = environmentConfigs({
      ...base,
      SIDESTEP_STAGING_NETWORK: 'create',
      SIDESTEP_STAGING_NETWORK_CIDR: '10.20.0.0/16',
      SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
      SIDESTEP_STAGING_DATABASE_PORT: '6432',
    });
    expect(staging.network).toEqual({
      cidrBlock: '10.20.0.0/16',
      database: { securityGroupId: 'sg-0123456789abcdef0', port: 6432 },
    });
    expect(staging.vpc).toBeUndefined();
    expect(staging.taskNetwork).toBeUndefined();
  });

  it('reads a database known by its port, or by its range, without a security group', () => {
    const read = (settings: Record<string, string>) =>
      environmentConfigs({ ...base, SIDESTEP_STAGING_NETWORK: 'create', ...settings }).staging.network;
    expect(read({ SIDESTEP_STAGING_DATABASE_PORT: '6432' })).toEqual({ database: { port: 6432 } });
    expect(read({ SIDESTEP_STAGING_DATABASE_CIDR: '10.0.192.0/24' })).toEqual({
      database: { cidrBlock: '10.0.192.0/24' },
    });
    expect(read({})).toEqual({});
  });

  it("infra/README.md's Network row names every interface endpoint the network creates", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((line) => line.startsWith('| `Network`'));
    for (const service of NETWORK_INTERFACE_ENDPOINTS) expect(row).toContain(`\`${service}\``);
  });

  it('reads the zone count, 1 to 4, and refuses anything else naming the setting', () => {
    const read = (zones: string) => () =>
      environmentConfigs({
        ...base,
        SIDESTEP_STAGING_NETWORK: 'create',
        SIDESTEP_STAGING_NETWORK_ZONES: zones,
      }).staging.network;
    expect(read('1')()).toEqual({ availabilityZoneCount: 1 });
    expect(read('4')()).toEqual({ availabilityZoneCount: 4 });
    for (const zones of ['0', '5', '1.5', 'two', ' 2', '0x2']) {
      expect(read(zones)).toThrow(/^staging\.network\.availabilityZoneCount: .*SIDESTEP_<ENV>_NETWORK_ZONES/);
    }
  });

  it('refuses the created network’s settings without a created network, rather than ignoring them', () => {
    for (const setting of ['SIDESTEP_STAGING_NETWORK_ZONES', 'SIDESTEP_STAGING_NETWORK_CIDR']) {
      expect(() =>
        environmentConfigs({ ...base, [setting]: setting.endsWith('ZONES') ? '1' : '10.20.0.0/16' }),
      ).toThrow(
        new RegExp(`^staging\\.network: ${setting} is set, .* SIDESTEP_STAGING_NETWORK is not "create"`),
      );
    }
  });

  it('refuses a database range that is not an IPv4 CIDR from /16 to /32, or given with the database group', () => {
    const read = (settings: Record<string, string>) => () =>
      environmentConfigs({ ...base, SIDESTEP_STAGING_NETWORK: 'create', ...settings });
    for (const cidr of ['0.0.0.0/0', '10.0.0.0/8', '10.0.300.0/24', 'db.internal'])
      expect(read({ SIDESTEP_STAGING_DATABASE_CIDR: cidr })).toThrow(
        /^staging\.network\.database\.cidrBlock: /,
      );
    expect(
      read({
        SIDESTEP_STAGING_DATABASE_CIDR: '10.0.192.0/24',
        SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
      }),
    ).toThrow(/^staging\.network\.database\.cidrBlock: /);
  });

  // The workload of a created network sends only to its endpoints and the database it is told of:
  // with none, the first deploy's migration task and every service would time out on the database.
  it('refuses to deploy a created network that names no database, naming the variables; synthesizes it otherwise', () => {
    const created: Record<string, string | undefined> = {
      ...STAGING_SETTINGS,
      SIDESTEP_STAGING_TASK_SUBNET_IDS: undefined,
      SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS: undefined,
      SIDESTEP_STAGING_NETWORK: 'create',
    };
    expect(() => environmentConfigs({ ...created, SIDESTEP_DEPLOY_ENVIRONMENT: 'staging' })).toThrow(
      /^staging\.network\.database: placeholder values cannot be deployed: set SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID \(or SIDESTEP_STAGING_DATABASE_CIDR, or SIDESTEP_STAGING_DATABASE_PORT alone for the VPC's range\)/,
    );
    // The network applied alone before the database exists (README, "First deploy", step 3).
    expect(environmentConfigs(created).staging.network).toEqual({});
    for (const database of [
      { SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0' },
      { SIDESTEP_STAGING_DATABASE_CIDR: '10.0.192.0/24' },
      { SIDESTEP_STAGING_DATABASE_PORT: '5432' },
    ]) {
      expect(
        environmentConfigs({ ...created, ...database, SIDESTEP_DEPLOY_ENVIRONMENT: 'staging' }).staging
          .network,
      ).toHaveProperty('database');
    }
  });

  it('refuses a created network together with subnet ids, and an unknown NETWORK value', () => {
    expect(() =>
      environmentConfigs({
        ...base,
        SIDESTEP_STAGING_NETWORK: 'create',
        SIDESTEP_STAGING_SUBNET_IDS: 'subnet-a',
      }),
    ).toThrow(/^staging\.network: /);
    expect(() => environmentConfigs({ ...base, SIDESTEP_STAGING_NETWORK: 'default' })).toThrow(
      InfraConfigError,
    );
    expect(() =>
      environmentConfigs({
        ...base,
        SIDESTEP_STAGING_NETWORK: 'create',
        SIDESTEP_STAGING_NETWORK_CIDR: '10.0.0.0/8',
      }),
    ).toThrow(/^staging\.network\.cidrBlock: /);
  });
});
