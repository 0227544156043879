import { placeholderSettings } from '@sidestep/infra';
import type { PreflightCheck } from './preflight-check.ts';

/**
 * Settings still at their placeholder (`subnet-placeholder`, `sg-placeholder`, the `PLACEHOLDER`
 * secret, accounts 111111111111/222222222222, the `placeholder-` state bucket, example.com mail):
 * applying them cannot work, so each one fails and names the `SIDESTEP_*` variable to set. The same
 * rule the synth applies under `SIDESTEP_DEPLOY_ENVIRONMENT` (infra's `placeholderSettings`).
 */
export const placeholderCheck: PreflightCheck = {
  id: 'placeholders',
  actions: [],
  run: async ({ config }) => {
    const found = placeholderSettings(config);
    if (found.length === 0) {
      return [
        { check: 'placeholders', subject: config.name, verdict: 'pass', detail: 'no placeholder values' },
      ];
    }
    return found.map((setting) => ({
      check: 'placeholders',
      subject: setting.field,
      verdict: 'fail',
      detail: `still the placeholder "${setting.value}"`,
      fix: `set ${setting.variable}: a variable of the GitHub environment "${config.name}" (or of your shell)`,
    }));
  },
};
