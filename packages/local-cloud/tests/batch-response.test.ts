import { describe, expect, it } from '@jest/globals';
import { judgeBatchResponse } from '../src/batch-response.ts';

const ids = ['m1', 'm2', 'm3'];

describe('judgeBatchResponse', () => {
  it.each([
    ['undefined (handler returned nothing)', undefined],
    ['null', null],
    ['an object without batchItemFailures', { processed: 3 }],
    ['a null batchItemFailures', { batchItemFailures: null }],
    ['an empty batchItemFailures', { batchItemFailures: [] }],
  ])('treats %s as every record succeeded', (_label, payload) => {
    const verdict = judgeBatchResponse(payload, ids);
    expect(verdict).toEqual({ kind: 'partial', failedMessageIds: new Set() });
  });

  it('fails exactly the listed records', () => {
    const verdict = judgeBatchResponse(
      { batchItemFailures: [{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }] },
      ids,
    );
    expect(verdict).toEqual({ kind: 'partial', failedMessageIds: new Set(['m2', 'm3']) });
  });

  it.each([
    [
      'batchItemFailures is not a list',
      { batchItemFailures: { itemIdentifier: 'm1' } },
      'batchItemFailures is not a list',
    ],
    [
      'an itemIdentifier is empty',
      { batchItemFailures: [{ itemIdentifier: '' }] },
      'batchItemFailures[0].itemIdentifier',
    ],
    [
      'an itemIdentifier is null',
      { batchItemFailures: [{ itemIdentifier: null }] },
      'batchItemFailures[0].itemIdentifier',
    ],
    [
      'an entry uses the wrong key name',
      { batchItemFailures: [{ itemIdentifier: 'm1' }, { ItemIdentifier: 'm2' }] },
      'batchItemFailures[1].itemIdentifier',
    ],
    [
      'an itemIdentifier is not in the batch',
      { batchItemFailures: [{ itemIdentifier: 'other' }] },
      '"other" is not a message of this batch',
    ],
    ['the payload is a string', 'done', 'not a batch response object'],
    ['the payload is a list', [{ itemIdentifier: 'm1' }], 'not a batch response object'],
  ])('fails the whole batch when %s', (_label, payload, reason) => {
    const verdict = judgeBatchResponse(payload, ids);
    expect(verdict.kind).toBe('batch-failed');
    expect(verdict.kind === 'batch-failed' && verdict.reason).toContain(reason);
  });
});
