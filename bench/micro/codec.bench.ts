// Encode and decode throughput of src/protocol/codec.ts beside coap-packet (node-coap's
// codec) on a firmware-download request and its block response (RFC 7252 §3, RFC 7959).
// Each side encodes from its own input model, built ahead of time, and decodes the same bytes.

import packet, { type Packet } from 'coap-packet';
import { blockOption, encodeBlock, type BlockValue } from '../../src/protocol/block.js';
import { decode, encode } from '../../src/protocol/codec.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { MessageType, type Message } from '../../src/protocol/message.js';
import { OptionNumber, encodeUint, stringOption, uintOption } from '../../src/protocol/options.js';
import type { Benchmark } from '../interfaces.js';
import { opsPerSecond } from '../measure.js';
import { OURS, type Report } from '../report.js';

const PEER = 'coap-packet';

const TOKEN = Buffer.from('a1b2c3d4', 'hex');
const ETAG = Buffer.from('0011223344556677', 'hex');
const PAYLOAD = Buffer.alloc(1024, 0x5a);
const REQUESTED_BLOCK: BlockValue = { num: 37, moreBlocks: false, sizeExponent: 6 }; // 1024 bytes
const SENT_BLOCK: BlockValue = { num: 37, moreBlocks: true, sizeExponent: 6 };
const FIRMWARE_SIZE = 1_000_000;

interface Scenario {
  readonly name: 'request' | 'response';
  readonly ours: Message;
  readonly peer: Packet;
}

// CON GET /updates/fw-2.1.0/download, Accept: application/cbor, Block2 37/0/1024.
const request: Scenario = {
  name: 'request',
  ours: {
    type: MessageType.CON,
    code: Method.GET,
    messageId: 0x1234,
    token: TOKEN,
    options: [
      stringOption(OptionNumber.UriPath, 'updates'),
      stringOption(OptionNumber.UriPath, 'fw-2.1.0'),
      stringOption(OptionNumber.UriPath, 'download'),
      uintOption(OptionNumber.Accept, ContentFormat.Cbor),
      blockOption(OptionNumber.Block2, REQUESTED_BLOCK),
    ],
    payload: Buffer.alloc(0),
  },
  peer: {
    confirmable: true,
    code: 'GET',
    messageId: 0x1234,
    token: TOKEN,
    options: [
      { name: 'Uri-Path', value: Buffer.from('updates') },
      { name: 'Uri-Path', value: Buffer.from('fw-2.1.0') },
      { name: 'Uri-Path', value: Buffer.from('download') },
      { name: 'Accept', value: encodeUint(ContentFormat.Cbor) },
      { name: 'Block2', value: encodeUint(encodeBlock(REQUESTED_BLOCK)) },
    ],
  },
};

// ACK 2.05 with ETag, Content-Format: application/octet-stream, Block2 37/1/1024, Size2
// and a full 1024-byte block.
const response: Scenario = {
  name: 'response',
  ours: {
    type: MessageType.ACK,
    code: ResponseCode.Content,
    messageId: 0x1234,
    token: TOKEN,
    options: [
      { number: OptionNumber.ETag, value: ETAG },
      uintOption(OptionNumber.ContentFormat, ContentFormat.OctetStream),
      blockOption(OptionNumber.Block2, SENT_BLOCK),
      uintOption(OptionNumber.Size2, FIRMWARE_SIZE),
    ],
    payload: PAYLOAD,
  },
  peer: {
    ack: true,
    code: '2.05',
    messageId: 0x1234,
    token: TOKEN,
    options: [
      { name: 'ETag', value: ETAG },
      { name: 'Content-Format', value: encodeUint(ContentFormat.OctetStream) },
      { name: 'Block2', value: encodeUint(encodeBlock(SENT_BLOCK)) },
      { name: 'Size2', value: encodeUint(FIRMWARE_SIZE) },
    ],
    payload: PAYLOAD,
  },
};

/** Equal work is checked, not assumed: both encoders must emit the same bytes, and both
 * decoders must find the same options and payload in them. */
function checkEquivalent(scenario: Scenario): Buffer {
  const bytes = encode(scenario.ours);
  const peerBytes = packet.generate(scenario.peer);
  if (!bytes.equals(peerBytes)) {
    throw new Error(`${scenario.name}: encoders disagree: ours ${bytes.toString('hex')}, ${PEER} ${peerBytes.toString('hex')}`);
  }
  const ours = decode(bytes);
  const peer = packet.parse(bytes);
  const same = ours.options.length === peer.options.length
    && ours.options.every((option, i) => option.value.equals(peer.options[i]!.value))
    && ours.payload.equals(peer.payload) && ours.token.equals(peer.token);
  if (!same) throw new Error(`${scenario.name}: decoders disagree on ${bytes.toString('hex')}`);
  return bytes;
}

export const codecBenchmark: Benchmark = {
  name: 'codec',
  async run(report: Report): Promise<void> {
    for (const scenario of [request, response]) {
      const bytes = checkEquivalent(scenario);
      const { ours, peer } = scenario;
      const encodeRates = opsPerSecond([
        { impl: OURS, operation: () => encode(ours) },
        { impl: PEER, operation: () => packet.generate(peer) },
      ]);
      const decodeRates = opsPerSecond([
        { impl: OURS, operation: () => decode(bytes) },
        { impl: PEER, operation: () => packet.parse(bytes) },
      ]);
      for (const [impl, rate] of encodeRates) report.add(`codec/${scenario.name}`, impl, 'encode_ops_per_s', Math.round(rate));
      for (const [impl, rate] of decodeRates) report.add(`codec/${scenario.name}`, impl, 'decode_ops_per_s', Math.round(rate));
    }
  },
};
