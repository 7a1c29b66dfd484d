// The life of a benchmark server child: start the server on an ephemeral loopback port,
// print that port as the first line on stdout, and exit cleanly (so `--cpu-prof` can
// write its profile) on SIGTERM, SIGINT or when the parent's end of stdin closes: a
// benchmark that dies must not leave servers behind.

export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Loopback only, ephemeral port: never 5683. */
export const BENCH_HOST = '127.0.0.1';

export async function runServerChild(start: () => Promise<RunningServer>): Promise<void> {
  const server = await start();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // A server that cannot close in a second is not worth waiting for.
    const deadline = setTimeout(() => process.exit(1), 1_000);
    server.close().finally(() => {
      clearTimeout(deadline);
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.stdout.write(`${server.port}\n`);
}
