// `npm run fire-schedule -- <name> [options]`: an alias of `sidestep fire <name> [options]` (the
// operator CLI, `npm run sidestep -- fire <name>`), one implementation of the operator event path.
// Kept because the banner, the packages' READMEs and the deployed operator rules' descriptions name it.
import { main } from '@sidestep/cli';

const [node = 'node', script = 'fire-schedule', ...args] = process.argv;
process.exitCode = await main([node, script, 'fire', ...args]);
