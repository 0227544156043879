/**
 * A schema built on its first use instead of when its module loads. `lazySchema(() => z.object(...))`
 * returns an object that stands for the schema and becomes it the first time anything reads a
 * property of it (`_zod`, `parse`, `shape`, `options`, ...), which zod does when it parses with it or
 * builds a schema around it. Its type is the schema's, so importers see no difference.
 *
 * Why: building the zod/mini schemas was most of the cost of importing the contracts (~400 schema
 * constructions, ~20 ms of CPU in every Lambda cold start), and a service's first invocation uses a
 * few of them. zod's own `z.lazy` defers only the schema inside it: it wraps it in a `ZodMiniLazy`
 * (another type, without `.shape` or `.options`, and one more layer on every parse).
 *
 * How: the object starts empty, its prototype a proxy whose traps build the schema, copy the
 * schema's own properties (`_zod`, `def`, `type`, ...) onto the object and give it the schema's
 * prototype. From then on it is an ordinary zod schema with no proxy in its prototype chain, so
 * parsing costs what it did: zod reaches a schema's state through `_zod` and `this`, never through
 * the identity of the object `build` returned. Before that, `Object.keys` of it is empty.
 *
 * Each call is annotated `@__PURE__` where it is made (a bundle then drops the schemas it does not
 * import). `build` must not read the schema it defines.
 *
 * @example export const JobRows = lazySchema(() => z.object({ total: z.int().check(z.minimum(0)) }));
 */
export function lazySchema<S extends object>(build: () => S): S {
  const stub = Object.create(
    new Proxy(
      {},
      {
        get: (_, key) => Reflect.get(become(), key),
        set: (_, key, value) => Reflect.set(become(), key, value),
        has: (_, key) => key in become(),
      },
    ),
  ) as S;
  function become(): S {
    const schema = build();
    Object.defineProperties(stub, Object.getOwnPropertyDescriptors(schema));
    Object.setPrototypeOf(stub, Object.getPrototypeOf(schema));
    return stub;
  }
  return stub;
}
