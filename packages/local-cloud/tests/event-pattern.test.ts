import { describe, expect, it } from '@jest/globals';
import { compileEventPattern, InvalidEventPatternError, matchesEventPattern } from '../src/event-pattern.ts';

// Patterns and events from the EventBridge user guide ("Content filtering in Amazon EventBridge
// event patterns", "Comparison operators", "Amazon S3 event notifications with EventBridge").

/** The EC2 example event of the user guide. */
const ec2Event = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '111122223333',
  time: '2017-12-22T18:43:48Z',
  region: 'us-west-1',
  resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
  detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
};

/** The S3 "Object Created" example event. */
const s3Event = {
  version: '0',
  id: '17793124-05d4-b198-2fde-7ededc63b103',
  'detail-type': 'Object Created',
  source: 'aws.s3',
  account: '123456789012',
  time: '2021-11-12T00:00:00Z',
  region: 'ca-central-1',
  resources: ['arn:aws:s3:::example-bucket'],
  detail: {
    version: '0',
    bucket: { name: 'example-bucket' },
    object: {
      key: 'example-key',
      size: 5,
      etag: 'b1946ac92492d2347c6235b4d2611184',
      'version-id': 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
      sequencer: '617f08299329d189',
    },
    'request-id': 'N4N7GDK58NMKJ12R',
    requester: '123456789012',
    'source-ip-address': '1.2.3.4',
    reason: 'PutObject',
  },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...ec2Event, detail });

describe('matchesEventPattern', () => {
  it('matches exact values, AND across fields and OR within a list', () => {
    const pattern = { source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'] };
    expect(matchesEventPattern(pattern, ec2Event)).toBe(true);
    expect(matchesEventPattern({ ...pattern, source: ['aws.s3'] }, ec2Event)).toBe(false);
    expect(matchesEventPattern({ detail: { state: ['running', 'terminated'] } }, ec2Event)).toBe(true);
    expect(matchesEventPattern({ detail: { state: ['running', 'pending'] } }, ec2Event)).toBe(false);
  });

  it('is case-sensitive for exact values and compares numbers by value', () => {
    expect(matchesEventPattern({ detail: { state: ['Terminated'] } }, ec2Event)).toBe(false);
    expect(matchesEventPattern({ detail: { 'x-limit': [3.018e2] } }, withDetail({ 'x-limit': 301.8 }))).toBe(
      true,
    );
    expect(matchesEventPattern({ detail: { 'x-limit': ['301.8'] } }, withDetail({ 'x-limit': 301.8 }))).toBe(
      false,
    );
  });

  it('matches an event array when any element is in the pattern list', () => {
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0',
      ],
    };
    expect(matchesEventPattern(pattern, ec2Event)).toBe(true);
    expect(matchesEventPattern({ resources: ['arn:aws:ec2:other'] }, ec2Event)).toBe(false);
  });

  it('matches null and empty strings exactly', () => {
    const event = withDetail({ responseElements: null, eventVersion: '' });
    expect(matchesEventPattern({ detail: { responseElements: [null] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { eventVersion: [''] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { eventVersion: [null] } }, event)).toBe(false);
  });

  it('matches prefix, with and without case folding', () => {
    expect(matchesEventPattern({ time: [{ prefix: '2017-12-22' }] }, ec2Event)).toBe(true);
    expect(matchesEventPattern({ time: [{ prefix: '2017-10-02' }] }, ec2Event)).toBe(false);
    const pattern = { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } };
    expect(matchesEventPattern(pattern, withDetail({ service: 'eventbridge' }))).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ service: 'EVENTBRIDGE' }))).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ service: 'lambda' }))).toBe(false);
  });

  it('matches suffix, with and without case folding', () => {
    expect(matchesEventPattern({ FileName: [{ suffix: '.png' }] }, { FileName: 'image.png' })).toBe(true);
    expect(matchesEventPattern({ FileName: [{ suffix: '.png' }] }, { FileName: 'image.PNG' })).toBe(false);
    const folded = { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } };
    expect(matchesEventPattern(folded, withDetail({ FileName: 'image.PNG' }))).toBe(true);
  });

  it('matches equals-ignore-case', () => {
    const pattern = { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] };
    expect(matchesEventPattern(pattern, ec2Event)).toBe(true);
    expect(matchesEventPattern({ 'detail-type': [{ 'equals-ignore-case': 'ec2' }] }, ec2Event)).toBe(false);
  });

  it('matches wildcards, with \\* as a literal star', () => {
    const pattern = { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] };
    expect(
      matchesEventPattern(pattern, {
        EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/default',
      }),
    ).toBe(true);
    expect(
      matchesEventPattern(pattern, {
        EventBusArn: 'arn:aws:events:us-west-2:123456789012:event-bus/default',
      }),
    ).toBe(false);
    const s3 = { detail: { object: { key: [{ wildcard: 'dir/*.png' }] } } };
    const withKey = (key: string) => ({ ...s3Event, detail: { ...s3Event.detail, object: { key } } });
    expect(matchesEventPattern(s3, withKey('dir/a/b.png'))).toBe(true);
    expect(matchesEventPattern(s3, withKey('dir/.png'))).toBe(true);
    expect(matchesEventPattern(s3, withKey('other/b.png'))).toBe(false);
    expect(matchesEventPattern(s3, withKey('dir/b.png.txt'))).toBe(false);
    expect(matchesEventPattern({ name: [{ wildcard: 'a\\*b' }] }, { name: 'a*b' })).toBe(true);
    expect(matchesEventPattern({ name: [{ wildcard: 'a\\*b' }] }, { name: 'axxb' })).toBe(false);
    // Regex metacharacters in the pattern are literal.
    expect(matchesEventPattern({ name: [{ wildcard: 'a.b' }] }, { name: 'axb' })).toBe(false);
  });

  // EventBridge's matcher (aws/event-ruler, WildcardParser): \\ is one literal backslash; a backslash
  // before anything but * or \ and two stars in a row are refused when the rule is put.
  it('reads \\\\ in a wildcard as one backslash, and refuses ** and any other escape', () => {
    expect(matchesEventPattern({ path: [{ wildcard: 'a\\\\b' }] }, { path: 'a\\b' })).toBe(true);
    expect(matchesEventPattern({ path: [{ wildcard: 'a\\\\b' }] }, { path: 'a\\\\b' })).toBe(false);
    expect(matchesEventPattern({ path: [{ wildcard: 'C:\\\\*' }] }, { path: 'C:\\data.csv' })).toBe(true);
    for (const [wildcard, why] of [
      ['a**b', 'consecutive wildcard characters'],
      ['a\\xb', 'invalid escape character'],
      ['trailing\\', 'invalid escape character'],
    ] as const) {
      expect(() => compileEventPattern({ detail: { path: [{ wildcard }] } })).toThrow(why);
      expect(() => compileEventPattern({ detail: { path: [{ 'anything-but': { wildcard } }] } })).toThrow(
        InvalidEventPatternError,
      );
    }
  });

  it('matches anything-but with a value, a list, prefix, suffix, equals-ignore-case and wildcard', () => {
    const state = (value: unknown) => withDetail({ state: value });
    expect(
      matchesEventPattern({ detail: { state: [{ 'anything-but': 'initializing' }] } }, state('running')),
    ).toBe(true);
    expect(
      matchesEventPattern({ detail: { state: [{ 'anything-but': 'initializing' }] } }, state('initializing')),
    ).toBe(false);
    expect(
      matchesEventPattern(
        { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
        withDetail({ 'x-limit': 124 }),
      ),
    ).toBe(true);
    const list = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    expect(matchesEventPattern(list, state('running'))).toBe(true);
    expect(matchesEventPattern(list, state('stopped'))).toBe(false);
    const prefix = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    expect(matchesEventPattern(prefix, state('running'))).toBe(true);
    expect(matchesEventPattern(prefix, state('initializing'))).toBe(false);
    const suffix = { detail: { FileName: [{ 'anything-but': { suffix: '.txt' } }] } };
    expect(matchesEventPattern(suffix, withDetail({ FileName: 'a.png' }))).toBe(true);
    expect(matchesEventPattern(suffix, withDetail({ FileName: 'a.txt' }))).toBe(false);
    const folded = {
      detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'OverLoaded'] } }] },
    };
    expect(matchesEventPattern(folded, state('STOPPED'))).toBe(false);
    expect(matchesEventPattern(folded, state('running'))).toBe(true);
    const wildcard = { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } };
    expect(matchesEventPattern(wildcard, withDetail({ FilePath: '/usr/lib/x' }))).toBe(false);
    expect(matchesEventPattern(wildcard, withDetail({ FilePath: '/usr/bin/x' }))).toBe(true);
    // anything-but needs the field to be there.
    expect(matchesEventPattern({ detail: { missing: [{ 'anything-but': 'x' }] } }, ec2Event)).toBe(false);
  });

  it('matches numeric ranges only on numbers', () => {
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 5, 'd-count': 3, 'x-limit': 301.8 }))).toBe(
      true,
    );
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 0, 'd-count': 3, 'x-limit': 301.8 }))).toBe(
      false,
    );
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 5, 'd-count': 10, 'x-limit': 301.8 }))).toBe(
      false,
    );
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': '5', 'd-count': 3, 'x-limit': 301.8 }))).toBe(
      false,
    );
  });

  it('matches IP addresses against a CIDR range', () => {
    const pattern = { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } };
    expect(matchesEventPattern(pattern, withDetail({ sourceIPAddress: '10.0.0.255' }))).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ sourceIPAddress: '10.0.1.0' }))).toBe(false);
    expect(matchesEventPattern(pattern, withDetail({ sourceIPAddress: 'not an ip' }))).toBe(false);
  });

  it('matches exists true and false, including absent parents and empty arrays', () => {
    expect(matchesEventPattern({ detail: { state: [{ exists: true }] } }, ec2Event)).toBe(true);
    expect(matchesEventPattern({ detail: { state: [{ exists: false }] } }, ec2Event)).toBe(false);
    expect(matchesEventPattern({ detail: { 'c-count': [{ exists: false }] } }, ec2Event)).toBe(true);
    expect(matchesEventPattern({ nothing: { here: [{ exists: false }] } }, ec2Event)).toBe(true);
    expect(matchesEventPattern({ detail: { tags: [{ exists: false }] } }, withDetail({ tags: [] }))).toBe(
      true,
    );
    // exists works on leaves only: an object field does not "exist" as a leaf.
    expect(matchesEventPattern({ detail: [{ exists: true }] }, ec2Event)).toBe(false);
  });

  // Exists matching (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-exists-matching)
  // under an array of objects: EventBridge flattens the array, and an empty one holds no items.id.
  it('matches exists false, not exists true, on a field of the objects of an empty array', () => {
    const event = withDetail({ items: [] });
    expect(matchesEventPattern({ detail: { items: { id: [{ exists: false }] } } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { items: { id: [{ exists: true }] } } }, event)).toBe(false);
    expect(
      matchesEventPattern(
        { detail: { items: { id: [{ exists: false }] } } },
        withDetail({ items: [{ id: 1 }] }),
      ),
    ).toBe(false);
  });

  it('matches $or at any level', () => {
    const pattern = {
      detail: {
        $or: [
          { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] },
          { 'd-count': [{ numeric: ['<', 10] }] },
          { 'x-limit': [{ numeric: ['=', 3.018e2] }] },
        ],
      },
    };
    expect(matchesEventPattern(pattern, withDetail({ 'd-count': 3 }))).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ 'c-count': 9, 'd-count': 30 }))).toBe(false);
    const top = {
      source: ['aws.ec2'],
      $or: [{ 'detail-type': ['x'] }, { detail: { state: ['terminated'] } }],
    };
    expect(matchesEventPattern(top, ec2Event)).toBe(true);
  });

  it('matches nested objects inside arrays when any element matches', () => {
    const event = {
      detail: {
        items: [
          { name: 'a', size: 1 },
          { name: 'b', size: 9 },
        ],
      },
    };
    expect(matchesEventPattern({ detail: { items: { size: [{ numeric: ['>', 5] }] } } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { items: { size: [{ numeric: ['>', 50] }] } } }, event)).toBe(false);
  });

  it('matches the S3 import rule shape: bucket name plus a key prefix-and-suffix wildcard', () => {
    const rule = compileEventPattern({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: ['example-bucket'] }, object: { key: [{ wildcard: 'imports/*.csv' }] } },
    });
    const upload = (bucket: string, key: string) => ({
      ...s3Event,
      detail: { ...s3Event.detail, bucket: { name: bucket }, object: { ...s3Event.detail.object, key } },
    });
    expect(rule(upload('example-bucket', 'imports/users.csv'))).toBe(true);
    expect(rule(upload('example-bucket', 'imports/2026/11/users.csv'))).toBe(true);
    expect(rule(upload('example-bucket', 'exports/users.csv'))).toBe(false);
    expect(rule(upload('example-bucket', 'imports/users.csv.gz'))).toBe(false);
    expect(rule(upload('other-bucket', 'imports/users.csv'))).toBe(false);
    expect(rule({ ...upload('example-bucket', 'imports/users.csv'), 'detail-type': 'Object Deleted' })).toBe(
      false,
    );
  });

  it('refuses malformed patterns, naming the field', () => {
    const refuses = (pattern: unknown, field: string) => {
      let error: unknown;
      try {
        compileEventPattern(pattern);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidEventPatternError);
      expect((error as InvalidEventPatternError).field).toBe(field);
    };
    refuses({ source: 'aws.s3' }, 'source');
    refuses({ detail: { key: [{ 'starts-with': 'x' }] } }, 'detail.key');
    refuses({ detail: { size: [{ numeric: ['>>', 1] }] } }, 'detail.size');
    refuses({ detail: { ip: [{ cidr: '10.0.0.0/99' }] } }, 'detail.ip');
    refuses({ detail: { state: [] } }, 'detail.state');
    refuses({ $or: [{ a: ['x'] }] }, '$or');
    refuses(['not', 'an', 'object'], '');
  });
});
