// A handler's ResponseInit as a message draft: the options a response carries (ETag,
// Content-Format, Max-Age, the handler's own) and the payload as bytes.

import { EMPTY_BUFFER } from './message.js';
import type { MessageDraft } from './message-layer.js';
import { OptionNumber, opaqueOption, uintOption, type CoapOption } from './options.js';
import type { ResponseInit } from './server-types.js';

export function responseDraft(token: Buffer, init: ResponseInit): MessageDraft {
  const options: CoapOption[] = [];
  if (init.etag !== undefined) options.push(opaqueOption(OptionNumber.ETag, init.etag));
  if (init.contentFormat !== undefined) options.push(uintOption(OptionNumber.ContentFormat, init.contentFormat));
  if (init.maxAge !== undefined) options.push(uintOption(OptionNumber.MaxAge, init.maxAge));
  if (init.options !== undefined) options.push(...init.options);
  const payload = init.payload === undefined ? EMPTY_BUFFER : typeof init.payload === 'string' ? Buffer.from(init.payload) : init.payload;
  return { code: init.code, token, options, payload };
}
