// `node dist/src/mediator/locate-main.js --state-dir DIR [--config FILE | --no-config]`: prints the
// address vgpu-run hands its program when it is given none (locate.ts), so that the shell script
// and `vgpu-admin doctor` find the mediator the same way. Exit status 2, with the reason on
// stderr, for a broken configuration file or a mediator with no address a program can use.

import { parseArgs } from 'node:util';

import { guestAddress, locateMediator } from './locate.js';

function main(argv: string[]): number {
  let values: { 'state-dir'?: string | undefined; config?: string | undefined; 'no-config'?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { 'state-dir': { type: 'string' }, config: { type: 'string' }, 'no-config': { type: 'boolean' } }, strict: true }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const stateDir = values['state-dir'];
  if (stateDir === undefined || stateDir === '') {
    process.stderr.write('--state-dir DIR is required\n');
    return 2;
  }
  try {
    const found = locateMediator({ stateDir, env: process.env, config: values['no-config'] ? false : values.config });
    const address = guestAddress(found.addresses);
    if (address === undefined) {
      process.stderr.write(`the mediator of ${found.source} listens on ${found.addresses.join(', ')}, none of which a program on this host can use; pass --server ADDR\n`);
      return 2;
    }
    process.stdout.write(`${address}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
