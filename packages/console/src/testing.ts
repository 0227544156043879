import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { ESCAPES, escapeHtml } from './html.ts';

/** Debian's Chromium; Playwright's own browser download cannot work on these machines. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium (Debian's `chromium` package, or `CHROMIUM_PATH`) driven by playwright-core, for
 * the tests that use the console as a person does. Playwright gives every launch a fresh temporary
 * profile of its own. A machine without it fails with how to get it. playwright-core is loaded here,
 * not with this module: the tests that only {@link signIn} need none of it.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the console's browser test needs Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`,
    );
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fetch of one console's paths (resolved against its URL) as the operator signed in to it. */
export type ConsoleFetch = (path: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Opens `url` (the URL a console printed, with its secret) as a browser does, without following its
 * redirect, and gives a fetch that sends the cookie it set with every request (after any cookie
 * `init` sends of its own). Fails when the console set no cookie: the URL was not its own.
 */
export async function signIn(url: string): Promise<ConsoleFetch> {
  const answer = await fetch(url, { redirect: 'manual' });
  const cookie = answer.headers.get('set-cookie')?.split(';')[0];
  if (answer.status !== 303 || !cookie) {
    throw new Error(`${url} signed nobody in: it answered ${answer.status} without a cookie`);
  }
  return (path, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('cookie', [headers.get('cookie'), cookie].filter(Boolean).join('; '));
    return fetch(new URL(path, url), { ...init, headers });
  };
}

/** The entities {@link ESCAPES} writes, back to their characters. */
const ENTITIES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ESCAPES).map(([character, entity]) => [entity, character]),
);

/**
 * The fields the first form of `page` posting to `action` sends as rendered (its hidden inputs: the
 * token, the one-time action id, what it acts on), to post it as a browser would. Fails when the page
 * has no such form.
 */
export function formFields(page: string, action: string): URLSearchParams {
  const start = page.indexOf(`<form method="post" action="${escapeHtml(action)}"`);
  if (start < 0) throw new Error(`the page has no form posting to ${action}`);
  const form = page.slice(start, page.indexOf('</form>', start));
  return new URLSearchParams(
    [...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
      ([, name = '', value = '']): [string, string] => [
        name,
        value.replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity] ?? entity),
      ],
    ),
  );
}
