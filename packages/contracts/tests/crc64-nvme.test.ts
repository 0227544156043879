import { randomBytes } from 'node:crypto';
import { Crc64NvmeJs } from '@aws-sdk/checksums/crc';
import { describe, expect, it } from '@jest/globals';
import { combineCrc64Nvme, combinePartsCrc64Nvme, EMPTY_CRC64_NVME } from '../src/crc64-nvme.ts';
import { Crc64NvmeHash, crc64Nvme } from '../src/crc64-nvme-hash.ts';

describe('crc64Nvme', () => {
  it('gives the catalogued check value of CRC-64/NVME for "123456789"', () => {
    expect(Buffer.from(crc64Nvme(Buffer.from('123456789')), 'base64').toString('hex')).toBe(
      'ae8b14860a799888',
    );
  });

  it('gives the same checksum streamed in pieces as at once', () => {
    const data = randomBytes(10_000);
    const hash = new Crc64NvmeHash();
    for (let offset = 0; offset < data.length; offset += 777)
      hash.update(data.subarray(offset, offset + 777));
    expect(hash.digest()).toBe(crc64Nvme(data));
  });

  it("gives what the AWS SDK's own CRC-64/NVME gives, for every length around its 8-byte stride and for MiBs", async () => {
    for (const length of [1, 7, 8, 9, 15, 16, 17, 1000, 65_537, 3 * 1024 * 1024 + 5]) {
      const data = randomBytes(length);
      const sdk = new Crc64NvmeJs();
      sdk.update(data);
      expect(crc64Nvme(data)).toBe(Buffer.from(await sdk.digest()).toString('base64'));
    }
  });

  it('keeps hashes updated in turn apart (they share one WebAssembly hasher), and a digest lets the hash go on', () => {
    const [a, b] = [randomBytes(5000), randomBytes(7000)];
    const [first, second] = [new Crc64NvmeHash(), new Crc64NvmeHash()];
    for (let offset = 0; offset < 7000; offset += 1000) {
      first.update(a.subarray(offset, offset + 1000));
      expect(crc64Nvme(b.subarray(0, 10))).toBe(crc64Nvme(Buffer.from(b.subarray(0, 10))));
      second.update(b.subarray(offset, offset + 1000));
      if (offset === 2000) expect(first.digest()).toBe(crc64Nvme(a.subarray(0, 3000)));
    }
    expect(first.digest()).toBe(crc64Nvme(a));
    expect(second.digest()).toBe(crc64Nvme(b));
  });

  it('gives the empty checksum for no bytes', () => {
    expect(crc64Nvme(Buffer.alloc(0))).toBe(EMPTY_CRC64_NVME);
  });
});

describe('combineCrc64Nvme', () => {
  it('gives the checksum of the concatenated bytes, at every split of the data', () => {
    const data = randomBytes(300);
    const whole = crc64Nvme(data);
    for (const split of [0, 1, 7, 8, 9, 64, 150, 299, 300]) {
      const [a, b] = [data.subarray(0, split), data.subarray(split)];
      expect(combineCrc64Nvme(crc64Nvme(a), crc64Nvme(b), b.length)).toBe(whole);
    }
  });

  it('combines many parts of different sizes, as a multipart upload does', () => {
    const parts = [5, 1, 4096, 0, 70_000, 13].map((bytes) => randomBytes(bytes));
    const checksums = parts.map((part) => ({ crc64nvme: crc64Nvme(part), bytes: part.length }));
    expect(combinePartsCrc64Nvme(checksums)).toBe(crc64Nvme(Buffer.concat(parts)));
  });

  it('tells a part changed after the fact from the original', () => {
    const [a, b] = [randomBytes(100), randomBytes(100)];
    const changed = Buffer.from(b);
    changed[50] = (changed[50] as number) ^ 1;
    expect(combineCrc64Nvme(crc64Nvme(a), crc64Nvme(changed), 100)).not.toBe(
      crc64Nvme(Buffer.concat([a, b])),
    );
  });

  it('refuses a checksum that is not 8 bytes and a negative length', () => {
    expect(() => combineCrc64Nvme('AAAA', EMPTY_CRC64_NVME, 1)).toThrow(RangeError);
    expect(() => combineCrc64Nvme(EMPTY_CRC64_NVME, EMPTY_CRC64_NVME, -1)).toThrow(RangeError);
  });
});
