// What the bundle uses in place of nodemailer's HTTP client (`nodemailer/lib/fetch/index.js`,
// bundle-options.ts): the same function and `Cookies`, the client loaded when first used. nodemailer
// requires it at load to fetch content given by URL (attachments, alternatives, an HTML `href`) and
// OAuth2 tokens, none of which a sidestep mail uses; loading it brought Node's `http` and `https` into
// every cold start of the mail-dispatcher (~7 ms of its ~50 ms import, measured 2026-12-04). The
// bundle resolves this file's own `require` of the module to nodemailer's file, which esbuild keeps
// unevaluated until the call. CommonJS, as the module it replaces and its importers are.
'use strict';

const load = () => require('nodemailer/lib/fetch/index.js');

module.exports = function nmfetch(url, options) {
  return load()(url, options);
};

Object.defineProperty(module.exports, 'Cookies', { enumerable: true, get: () => load().Cookies });
