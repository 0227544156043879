import { createServer } from 'node:net';
import { LocalCloudStartError } from '@sidestep/local-cloud';

/** A port `npm start` is to listen on, with the flag that sets it and what listens there. */
export interface StartPort {
  /** The flag that sets it: `--smtp-port`. */
  readonly flag: string;
  /** What listens there, as a person knows it: `SMTP sink`. */
  readonly service: string;
  /** 0 picks a free port: never busy. */
  readonly port: number;
}

/**
 * One of the ports `npm start` is to listen on is taken; `flag` is the one that moves it. A start
 * failure a person mends, printed as one line as the local cloud's own are.
 */
export class PortInUseError extends LocalCloudStartError {
  override readonly name: string = 'PortInUseError';
  readonly port: number;
  readonly flag: string;
  constructor({ flag, service, port }: StartPort, cause?: unknown) {
    super(
      `Port ${port} (${service}) is already in use (another local cloud${service === 'embedded PostgreSQL' ? ', or a PostgreSQL server' : ''}?). Stop it or pick ${flag} (0 picks a free one).`,
      { cause },
    );
    this.port = port;
    this.flag = flag;
  }
}

/** Whether something already listens on `port` of `host`: a listen there fails with EADDRINUSE. */
function isBusy(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(true) : reject(error),
    );
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}

/**
 * Fails with {@link PortInUseError} for the first of `ports` something already listens on, before
 * the build and the start: a busy port found by the start itself costs the build's minute and names
 * no flag. A port taken between this check and the start still fails the start (EADDRINUSE).
 */
export async function checkPortsFree(ports: readonly StartPort[], host = '127.0.0.1'): Promise<void> {
  for (const port of ports) {
    if (port.port !== 0 && (await isBusy(port.port, host))) throw new PortInUseError(port);
  }
}
