// Waiting on a condition that real I/O makes true (a datagram handled, a session closed),
// where no event is exposed to wait on: checked after every turn of the event loop's
// timers, failing with `what` once `timeoutMs` has passed. The bound is generous so a
// loaded machine passes; a test that is right never waits for it.

export async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
