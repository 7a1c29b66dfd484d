// The package's main entry (`coap-fleet`): the CoAP stack. An endpoint that is client and
// server on one socket (RFC 7252), Observe (RFC 7641), Block-wise (RFC 7959), the codec,
// link format (RFC 6690) and the typed errors. Nothing else here is promised.

export { Endpoint, type EndpointOptions, type RequestOptions } from './endpoint.js';
export type { CoapResponse, SendOptions } from './client.js';
export type { CoapRequest, ProxyResolver, ProxyTarget, RequestHandler, ResponseInit, UploadPolicy, UploadSink } from './server-types.js';
export type { MethodName, ResourceDefinition } from './router.js';
export type { Clock, Logger, Peer, PeerAddress, Random, Transport } from './interfaces.js';
export { UdpTransport, type UdpTransportOptions } from './transport-udp.js';
export { DEFAULT_PARAMETERS, type CongestionControl, type TransmissionParameters } from './parameters.js';
export type { LinkEstimate, RttEstimator } from './rto-estimator.js';

export { decode, encode } from './codec.js';
export { MessageType, type Message } from './message.js';
export { codeClass, describeCode, formatCode, Method, parseCode, ResponseCode } from './codes.js';
export {
  getOption, getOptions, getStringOption, getUintOption, OptionNumber, opaqueOption, stringOption, uintOption, withOption,
  type CoapOption,
} from './options.js';
export { ContentFormat, parseContentFormat } from './content-formats.js';
export { parseUri, type CoapUri } from './uri.js';
export { filterLinks, parseLinks, serializeLinks, type Link } from './link-format.js';

export { Observation, type ObserveOptions } from './observe-client.js';
export type { ObserveLimits } from './observe-server.js';
export { blockSize, decodeBlock, encodeBlock, type BlockValue } from './block.js';
export { memorySink, type BlockSink, type DownloadOptions, type DownloadResult, type UploadOptions } from './block-client.js';
export type { QBlock2Limits, QBlock2Stats } from './q-block2-server.js';
export { bufferBody, fileBody, immutableFileBody, type BodySource } from './body.js';

export {
  BlockTransferError, CancelledError, ClosedError, CoapError, FormatError, QueueFullError, RequestTimeoutError, ResetError,
  ResponseError, RetransmitTimeoutError,
} from './errors.js';
