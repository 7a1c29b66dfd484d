// The message model of RFC 7252 §3: what the codec turns into bytes and back.

import type { CoapOption } from './options.js';

/** §3: the 2-bit message type. */
export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const MESSAGE_TYPE_NAMES = ['CON', 'NON', 'ACK', 'RST'] as const;

export interface Message {
  readonly type: MessageType;
  /** class << 5 | detail; 0 is the Empty message (§4.1). */
  readonly code: number;
  readonly messageId: number;
  /** 0 to 8 bytes (§5.3.1). */
  readonly token: Buffer;
  /** In ascending option-number order on the wire; repeated options keep their order. */
  readonly options: readonly CoapOption[];
  readonly payload: Buffer;
}

export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/** An Empty message (code 0.00): an ACK or RST answering `messageId`, or a CoAP ping. */
export function emptyMessage(type: MessageType, messageId: number): Message {
  return { type, code: 0, messageId, token: EMPTY_BUFFER, options: [], payload: EMPTY_BUFFER };
}
