/**
 * Stack traces of a bundle in its sources' lines, each source map read when a stack trace first
 * passes through its file: what `--enable-source-maps` shows, without its cost at every start.
 *
 * `bundleService` makes install-source-mapped-stack-traces.ts the first module every bundle
 * evaluates (it wraps the entry), so this runs in the Lambda images and the batch-worker's image, and
 * wherever the local cloud runs the same bundles. It is written here rather than taken from a
 * library: Node's `--enable-source-maps` reads and parses the map of every module as it loads
 * (measured by CPU time on 2026-12-04, 25 fresh processes each, importing the bundle with and
 * without it: +15 ms for the export-finalizer, +12 ms for the mail-dispatcher, +7.5 ms for the
 * status-updater, on every cold start; bench/RESULTS.md measures it beside each import), and
 * `source-map-support` brings its own mappings parser where Node has one (`SourceMap` of
 * `node:module`, used here). Only formatting is replaced, and only where a map is found: each call
 * site with a mapped position is handed to the formatter that was installed before (Node's own) with
 * its file, line and column taken from the map, so names, `async`, `new` and the header are Node's.
 *
 * Runs when the bundle loads: nothing but the function and its assignment, no file is read until a
 * stack trace is formatted (V8 formats `error.stack` on its first read).
 */

/** What V8 hands `Error.prepareStackTrace`: one call site per frame. */
type CallSite = NodeJS.CallSite;
type PrepareStackTrace = (error: Error, trace: CallSite[]) => unknown;

/** Marks the installed function, so that installing twice (two bundles in one process) maps once. */
const INSTALLED = Symbol.for('sidestep.sourceMappedStackTraces');

/** A frame's original position: the source file (a path), 1-based line and column. */
interface OriginalPosition {
  readonly fileName: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

/** What a file's source map can answer; `undefined` where the file has none (or it is unreadable). */
type PositionLookup = (line: number, column: number) => OriginalPosition | undefined;

/**
 * Installs the mapping as `Error.prepareStackTrace`, unless Node maps stack traces already
 * (`--enable-source-maps`, `process.setSourceMapsEnabled(true)`) or this is installed already.
 */
export function installSourceMappedStackTraces(): void {
  if (process.sourceMapsEnabled) return;
  const previous = Error.prepareStackTrace as (PrepareStackTrace & { [INSTALLED]?: true }) | undefined;
  if (previous?.[INSTALLED]) return;
  const lookups = new Map<string, PositionLookup | undefined>();
  const lookupOf = (fileName: string) => {
    if (!lookups.has(fileName)) lookups.set(fileName, readSourceMap(fileName));
    return lookups.get(fileName);
  };
  const prepare: PrepareStackTrace & { [INSTALLED]?: true } = (error, trace) => {
    const mapped = trace.map((site) => {
      try {
        return mapCallSite(site, lookupOf);
      } catch {
        // A stack trace is never lost to its mapping: the frame stays as V8 gave it.
        return site;
      }
    });
    return previous ? previous(error, mapped) : formatStackTrace(error, mapped);
  };
  prepare[INSTALLED] = true;
  Error.prepareStackTrace = prepare as typeof Error.prepareStackTrace;
}

/** `site` with its position in the original source, or `site` itself where no map covers it. */
function mapCallSite(site: CallSite, lookupOf: (fileName: string) => PositionLookup | undefined): CallSite {
  const fileName = site.getFileName();
  const line = site.getLineNumber();
  const column = site.getColumnNumber();
  if (!fileName || line === null || column === null) return site;
  const original = lookupOf(fileName)?.(line, column);
  if (!original) return site;
  const generated = `${fileName}:${line}:${column}`;
  const overrides: Partial<CallSite> & { toString(): string } = {
    getFileName: () => original.fileName,
    getScriptNameOrSourceURL: () => original.fileName,
    getLineNumber: () => original.lineNumber,
    getColumnNumber: () => original.columnNumber,
    // V8's own text for the frame (its names, `async`, `new`, `as`) with the location replaced.
    toString: () => {
      const text = site.toString();
      const at = text.lastIndexOf(generated);
      return at === -1
        ? text
        : `${text.slice(0, at)}${original.fileName}:${original.lineNumber}:${original.columnNumber}${text.slice(at + generated.length)}`;
    },
  };
  return new Proxy(site, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof typeof overrides];
      const value = Reflect.get(target, key, target);
      // CallSite's methods read internal slots: call them on the call site itself.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * V8's default format, for a realm without an `Error.prepareStackTrace` to hand the frames to: Node
 * sets one on its main realm's `Error`, not on a vm context's (jest's test environments are vm contexts).
 */
function formatStackTrace(error: Error, trace: readonly CallSite[]): string {
  let header: string;
  try {
    header = Error.prototype.toString.call(error);
  } catch {
    header = '<error>';
  }
  return `${header}${trace.map((site) => `\n    at ${site.toString()}`).join('')}`;
}

/**
 * The position lookup of `fileName`'s source map (named by its `sourceMappingURL` comment, a file
 * next to it), or `undefined` for a file without one (Node's own modules, a `data:` map, a file
 * that cannot be read). Sources resolve against the map's location, as Node resolves them.
 */
function readSourceMap(fileName: string): PositionLookup | undefined {
  try {
    const { readFileSync } = process.getBuiltinModule('node:fs');
    const { SourceMap } = process.getBuiltinModule('node:module');
    const { fileURLToPath, pathToFileURL } = process.getBuiltinModule('node:url');
    let url: URL;
    if (fileName.startsWith('file:')) url = new URL(fileName);
    else if (fileName.startsWith('/')) url = pathToFileURL(fileName);
    else return undefined;
    const source = readFileSync(url, 'utf8');
    const mapName = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(source)?.[1];
    if (!mapName || mapName.startsWith('data:')) return undefined;
    const mapUrl = new URL(mapName, url);
    const payload = JSON.parse(readFileSync(mapUrl, 'utf8'));
    const map = new SourceMap(payload);
    const sources = new Map<string, string>();
    const pathOf = (source: string) => {
      let path = sources.get(source);
      if (path === undefined) {
        const resolved = new URL(`${payload.sourceRoot ?? ''}${source}`, mapUrl);
        path = resolved.protocol === 'file:' ? fileURLToPath(resolved) : resolved.href;
        sources.set(source, path);
      }
      return path;
    };
    return (line, column) => {
      const entry = map.findEntry(line - 1, column - 1);
      if (!('originalSource' in entry) || entry.originalSource === undefined) return undefined;
      return {
        fileName: pathOf(entry.originalSource),
        lineNumber: entry.originalLine + 1,
        columnNumber: entry.originalColumn + 1,
      };
    };
  } catch {
    return undefined;
  }
}
