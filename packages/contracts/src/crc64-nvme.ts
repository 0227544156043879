/**
 * CRC-64/NVME, the checksum S3 computes by default and the only one it offers as a full-object
 * checksum of a multipart upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html):
 * every writer and reader of an export's bytes (the batch-worker, the export-finalizer, the local
 * S3) states it the same way, base64 of its 8 big-endian bytes, as S3's `x-amz-checksum-crc64nvme`.
 *
 * Combining checksums lives here (no library combines two CRC-64/NVME checksums, which is what a
 * full-object checksum of a multipart upload is made of); computing one is in `crc64-nvme-hash.ts`
 * (`@sidestep/contracts/crc64-nvme-hash`), apart, so that a service that only combines (the
 * export-finalizer) does not load a WebAssembly module at cold start.
 */

/** The reflected form of CRC-64/NVME's polynomial 0xad93d23594c93659. */
const POLY = 0x9a6c9329ac4bc9b5n;
const MASK = (1n << 64n) - 1n;
/** x^0 in the reflected bit order (the top bit). */
const X0 = 1n << 63n;

/** a(x)·b(x) mod P(x), both reflected (zlib's `multmodp`, widened to 64 bits). */
function multModP(a: bigint, b: bigint): bigint {
  let m = X0;
  let p = 0n;
  let bb = b;
  for (;;) {
    if (a & m) {
      p ^= bb;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    bb = bb & 1n ? (bb >> 1n) ^ POLY : bb >> 1n;
  }
  return p & MASK;
}

/**
 * X2N[k] = x^(2^k) mod P(x), built on the first combine (~2 ms of bigint work): every service that
 * imports the contracts would otherwise pay it at cold start, and only exports combine checksums.
 */
let x2nTable: bigint[] | undefined;
function x2n(): bigint[] {
  if (x2nTable) return x2nTable;
  const table: bigint[] = [X0 >> 1n]; // x^1
  for (let k = 1; k < 64; k += 1) {
    const previous = table[k - 1] as bigint;
    table.push(multModP(previous, previous));
  }
  x2nTable = table;
  return table;
}

/** x^(n·2^k) mod P(x) (zlib's `x2nmodp`). */
function x2nModP(n: number, k: number): bigint {
  const powers = x2n();
  let p = X0;
  let rest = BigInt(n);
  let index = k;
  while (rest > 0n) {
    if (rest & 1n) p = multModP(powers[index % 64] as bigint, p);
    rest >>= 1n;
    index += 1;
  }
  return p;
}

function toBigInt(checksum: string): bigint {
  const bytes = Buffer.from(checksum, 'base64');
  if (bytes.length !== 8) throw new RangeError(`a CRC-64/NVME checksum is 8 bytes, got ${bytes.length}`);
  return bytes.readBigUInt64BE();
}

function toBase64(value: bigint): string {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(value & MASK);
  return bytes.toString('base64');
}

/**
 * The CRC-64/NVME of `A‖B` from the checksums of `A` and of `B` and the length of `B` (zlib's
 * `crc32_combine` method: shift A's checksum past B's bytes, then add B's; the all-ones initial value
 * and final XOR cancel). How S3 derives a multipart upload's full-object checksum from its parts'.
 *
 * @example combineCrc64Nvme(crc64Nvme(a), crc64Nvme(b), b.length) === crc64Nvme(Buffer.concat([a, b])) // crc64Nvme: crc64-nvme-hash.ts
 */
export function combineCrc64Nvme(first: string, second: string, secondBytes: number): string {
  if (!Number.isSafeInteger(secondBytes) || secondBytes < 0) {
    throw new RangeError(`secondBytes must be a non-negative integer, got ${secondBytes}`);
  }
  return toBase64(multModP(x2nModP(secondBytes, 3), toBigInt(first)) ^ toBigInt(second));
}

/** The CRC-64/NVME of zero bytes, the identity of {@link combineCrc64Nvme}. */
export const EMPTY_CRC64_NVME = 'AAAAAAAAAAA=';

/**
 * The full-object CRC-64/NVME of parts concatenated in order, from their own checksums and sizes.
 */
export function combinePartsCrc64Nvme(
  parts: readonly { readonly crc64nvme: string; readonly bytes: number }[],
): string {
  return parts.reduce((whole, part) => combineCrc64Nvme(whole, part.crc64nvme, part.bytes), EMPTY_CRC64_NVME);
}
