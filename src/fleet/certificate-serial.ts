// Certificate serial numbers as the fleet compares them (RFC 5280 §4.1.2.2): apart from
// certificates.ts so that the gateway's revocation checks, which run with PSKs too, do not
// load the X.509 issuing stack (@peculiar/x509) into a daemon that never issues.

import { CertificateError } from './errors.js';

/** Serials compared as lowercase hex without leading zeros (node prints "0A1B…", mbedTLS
 * "0a:1b:…", a person may type either). */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toLowerCase().replace(/^0+(?=.)/, '');
  if (!/^[0-9a-f]+$/.test(hex)) throw new CertificateError(`${JSON.stringify(serial)} is not a serial number in hex`);
  return hex;
}
