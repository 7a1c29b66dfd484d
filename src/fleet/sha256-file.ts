// The sha256 of a file, streamed in 64 KiB reads (an image is never read whole): the one
// definition the publisher, the gateway's tools, the agent's verification and health check,
// and the command line's downloads share.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
