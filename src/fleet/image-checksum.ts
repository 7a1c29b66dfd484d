// The image checksum contract between publisher, gateway and agent: a manifest names its
// image as "sha256:<64 hex>", the gateway stores it under that digest and serves it with
// an ETag of the digest's first 8 bytes (RFC 7252 §5.10.6 allows 1 to 8), and the agent
// resumes a download only under that same ETag.

/** "sha256:<hex>" from a manifest as the bare hex digest. */
export const digestOf = (checksum: string): string => checksum.replace(/^sha256:/, '');

/** The ETag the gateway serves an image with, and the agent expects. */
export const imageEtag = (sha256: string): Buffer => Buffer.from(sha256.slice(0, 16), 'hex');
