import { beforeAll, describe, expect, it } from '@jest/globals';
import * as z from 'zod/mini';
import { lazySchema } from '../src/lazy-schema.ts';

// Counts every zod schema built in this test file's module registry (fresh per file under jest),
// through zod's global post-processor hook: zod calls `globalConfig.postProcessor` with each schema
// it finishes constructing (v4/core/core.js, the hook `zod/compile` installs). The hook is internal
// to zod, so the first-use test below also proves it still counts: without that, 0 would prove nothing.
let built = 0;
(z.core.globalConfig as { postProcessor?: (schema: unknown) => void }).postProcessor = () => {
  built += 1;
};

const register = {
  event: 'register',
  kind: 'import',
  expectedState: 'registered',
  executionId: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1',
  source: { bucket: 'sidestep-local-imports', key: 'imports/users.csv', etag: '"abc"', size: 10 },
};

describe('@sidestep/contracts', () => {
  let contracts: typeof import('../src/index.ts');
  let builtAtImport: number;

  beforeAll(async () => {
    const before = built;
    contracts = await import('../src/index.ts');
    builtAtImport = built - before;
  });

  it('builds no schema when the module loads', () => {
    expect(builtAtImport).toBe(0);
  });

  it('builds a schema and what it is made of on its first use, and only then', () => {
    const before = built;
    expect(contracts.validate(contracts.StatusUpdateInput, register).event).toBe('register');
    const firstUse = built - before;
    expect(firstUse).toBeGreaterThan(10);
    contracts.validate(contracts.StatusUpdateInput, register);
    expect(built - before).toBe(firstUse);
    // The mail contracts, not part of the status input, are still unbuilt.
    const beforeMail = built;
    contracts.validate(contracts.MailSendJob, {
      type: 'mail.send',
      version: 1,
      id: 'm1',
      payload: { template: 'export.failed', to: 'a@example.com', params: { jobId: 'e1', reason: 'x' } },
    });
    expect(built - beforeMail).toBeGreaterThan(10);
  });
});

describe('lazySchema', () => {
  function counted<S>(build: () => S): { schema: S; builds: () => number } {
    let builds = 0;
    const schema = lazySchema(() => {
      builds += 1;
      return build() as S & object;
    });
    return { schema, builds: () => builds };
  }

  it('builds the schema on the first read of any property, once', () => {
    const { schema, builds } = counted(() => z.object({ name: z.string() }));
    expect(builds()).toBe(0);
    expect(Object.keys(schema.shape)).toEqual(['name']);
    expect(schema.parse({ name: 'a' })).toEqual({ name: 'a' });
    expect(z.safeParse(schema, { name: 1 }).success).toBe(false);
    expect(builds()).toBe(1);
  });

  it('builds on an `in` check or an assignment as well', () => {
    const checked = counted(() => z.string());
    expect('_zod' in checked.schema).toBe(true);
    expect(checked.builds()).toBe(1);
    const assigned = counted(() => z.string());
    (assigned.schema as { description?: string }).description = 'a name';
    expect(assigned.builds()).toBe(1);
    expect(Object.hasOwn(assigned.schema, 'description')).toBe(true);
    expect(assigned.schema.parse('a')).toBe('a');
  });

  it('becomes an ordinary schema of its kind, with no proxy left in its prototype chain', () => {
    const { schema } = counted(() => z.enum(['a', 'b']));
    expect(schema.options).toEqual(['a', 'b']);
    expect(schema).toBeInstanceOf(z.ZodMiniEnum);
    expect(Object.getPrototypeOf(schema)).toBe(Object.getPrototypeOf(z.enum(['c'])));
    expect(Object.keys(schema).sort()).toEqual(Object.keys(z.enum(['a', 'b'])).sort());
  });

  it('composes into other schemas before it is built, and describes them as the eager schema does', () => {
    const eager = z.strictObject({
      id: z.string().check(z.minLength(1)),
      tags: z.optional(z.array(z.string())),
    });
    const { schema, builds } = counted(() =>
      z.strictObject({ id: z.string().check(z.minLength(1)), tags: z.optional(z.array(z.string())) }),
    );
    const list = z.array(z.optional(schema));
    expect(builds()).toBe(0);
    expect(list.parse([{ id: 'a' }, undefined])).toEqual([{ id: 'a' }, undefined]);
    expect(z.safeParse(list, [{ id: '' }]).success).toBe(false);
    expect(z.toJSONSchema(z.array(z.optional(schema)))).toEqual(z.toJSONSchema(z.array(z.optional(eager))));
    expect(builds()).toBe(1);
  });
});
